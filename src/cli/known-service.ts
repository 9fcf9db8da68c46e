/**
 * One answer for a service nobody knows, whichever command names it (`instances`, `routes`,
 * `stat`): TRELLIS_ERR_SERVICE_NOT_FOUND, exit 1, and the closest known name. A service is known
 * when an instance is registered or a sidecar reports it (what `trellis stat` lists).
 */
import type { ControlPlaneClient } from '../client/control-plane.js';
import { ErrorCodes, TrellisError, isTrellisError } from '../errors.js';
import { didYouMean } from '../util/suggest.js';

export async function requireKnownService(client: ControlPlaneClient, service: string): Promise<void> {
  const known = [...new Set([
    ...(await client.services()).services.map((s) => s.name),
    ...(await client.stat({ window: '15m' })).services.map((s) => s.service),
  ])];
  if (known.includes(service)) return;
  const hint = didYouMean(service, known);
  throw new TrellisError(ErrorCodes.SERVICE_NOT_FOUND,
    `no service ${JSON.stringify(service)}: no instance is registered and no sidecar reports it${hint} (see \`trellis services\`)`, { field: 'service' });
}

/** Run `call`; a SERVICE_NOT_FOUND from the control plane becomes the one answer above. */
export async function withKnownService<T>(client: ControlPlaneClient, service: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (isTrellisError(err) && err.code === ErrorCodes.SERVICE_NOT_FOUND) await requireKnownService(client, service);
    throw err;
  }
}
