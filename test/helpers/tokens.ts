/** Join tokens for test sidecars: minted through the control plane's API with its admin token, as an operator would. */

const adminTokens = new Map<string, string>();

/** startServer records each control plane's admin token (from its data dir) here. */
export function rememberAdminToken(controlPlane: string, token: string): void {
  adminTokens.set(controlPlane, token);
}

/** `Authorization` for administrative calls to `controlPlane`. */
export function adminHeaders(controlPlane: string): Record<string, string> {
  const token = adminTokens.get(controlPlane);
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** TRELLIS_ADMIN_TOKEN for a CLI call to `controlPlane`. */
export function adminEnv(controlPlane: string): Record<string, string> {
  const token = adminTokens.get(controlPlane);
  return token === undefined ? {} : { TRELLIS_ADMIN_TOKEN: token };
}

const minted = new Map<string, Promise<string>>();

/**
 * A join token for `service` from the control plane at `controlPlane`, minted once per
 * service and reused (a token may be used until it expires, as by the replicas of a
 * service): a sidecar started while its control plane is down still has one.
 */
export function mintToken(controlPlane: string, service: string): Promise<string> {
  const key = `${controlPlane} ${service}`;
  let token = minted.get(key);
  if (token === undefined) {
    token = mintNewToken(controlPlane, service);
    minted.set(key, token);
    token.catch(() => minted.delete(key));
  }
  return token;
}

/** A new join token, every call. */
export async function mintNewToken(controlPlane: string, service: string, ttl = '30m'): Promise<string> {
  const response = await fetch(`${controlPlane}/v1/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...adminHeaders(controlPlane) }, body: JSON.stringify({ service, ttl }),
  });
  const body = await response.json() as { token?: string; error?: { message: string } };
  if (response.status !== 201 || body.token === undefined) throw new Error(`cannot mint a join token for ${service}: ${body.error?.message ?? response.status}`);
  return body.token;
}

/** The value after `flag` in a CLI argument list. */
export function flagValue(args: readonly string[], flag: string): string | undefined {
  const at = args.indexOf(flag);
  return at < 0 ? undefined : args[at + 1];
}

/** TRELLIS_TOKEN for a `trellis run|proxy` argument list (its --service and --control-plane), unless it runs with --mtls off. */
export async function tokenEnv(args: readonly string[]): Promise<Record<string, string>> {
  const service = flagValue(args, '--service');
  const controlPlane = flagValue(args, '--control-plane');
  if (service === undefined || controlPlane === undefined || flagValue(args, '--mtls') === 'off') return {};
  return { TRELLIS_TOKEN: await mintToken(controlPlane, service) };
}
