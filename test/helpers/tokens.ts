/** Join tokens for test sidecars: minted through the control plane's API, as an operator would. */

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
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ service, ttl }),
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
