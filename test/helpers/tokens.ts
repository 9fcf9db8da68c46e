/**
 * Tokens for tests. Every API call needs one: the helpers send the control plane's admin token
 * by default (read from its data dir), and give every test sidecar a join token minted through
 * the API, as an operator would.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlPlaneClient, parseControlPlanes } from '../../src/client/control-plane.js';

const adminTokens = new Map<string, string>();
/** Control planes whose admin token is in a data dir, and the store they share (replicas on one etcd share one token). */
const servers = new Map<string, { dataDir: string; store: string }>();

/** Record a control plane's admin token. */
export function rememberAdminToken(controlPlane: string, token: string): void {
  adminTokens.set(controlPlane, token);
}

/** startServer records each control plane here: its admin token is read from `<dataDir>/admin-token` when first needed. */
export function rememberServer(controlPlane: string, dataDir: string, store: string): void {
  servers.set(controlPlane, { dataDir, store });
}

function readAdminToken(dataDir: string): string | undefined {
  try {
    return readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The admin token of the control plane at `controlPlane` (an origin), or of a replica on the same store. */
export function adminToken(controlPlane: string): string | undefined {
  const known = adminTokens.get(controlPlane);
  if (known !== undefined) return known;
  const server = servers.get(controlPlane);
  if (server === undefined) return undefined;
  const own = readAdminToken(server.dataDir);
  if (own !== undefined) return own;
  for (const other of servers.values()) {
    if (other.store !== server.store) continue;
    const theirs = readAdminToken(other.dataDir);
    if (theirs !== undefined) return theirs;
  }
  return undefined;
}

/** `Authorization` with the admin token of `controlPlane`. */
export function adminHeaders(controlPlane: string): Record<string, string> {
  const token = adminToken(controlPlane);
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** TRELLIS_ADMIN_TOKEN for a CLI call to `controlPlane`. */
export function adminEnv(controlPlane: string): Record<string, string> {
  const token = adminToken(controlPlane);
  return token === undefined ? {} : { TRELLIS_ADMIN_TOKEN: token };
}

/** The API client with the admin token of the control planes named (replicas on one store share one). */
export function adminClient(controlPlanes: string | readonly string[]): ControlPlaneClient {
  const origins = parseControlPlanes(controlPlanes);
  return new ControlPlaneClient(controlPlanes, () => origins.map(adminToken).find((t) => t !== undefined));
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

/** TRELLIS_TOKEN for a `trellis run|proxy` argument list (its --service and --control-plane): every sidecar needs one. */
export async function tokenEnv(args: readonly string[]): Promise<Record<string, string>> {
  const service = flagValue(args, '--service');
  const controlPlane = flagValue(args, '--control-plane');
  if (service === undefined || controlPlane === undefined) return {};
  return { TRELLIS_TOKEN: await mintToken(controlPlane, service) };
}
