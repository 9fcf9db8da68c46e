/**
 * One answer for a service nobody knows, whichever command names it (`instances`, `routes`,
 * `stat`, `deregister`, `heartbeat`): TRELLIS_ERR_SERVICE_NOT_FOUND, exit 1, and the closest known name;
 * for an instance id a known service does not have, the closest of its ids. A service is known
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

/**
 * Run `call` on one instance; an INSTANCE_NOT_FOUND becomes the unknown-service answer when the
 * service is unknown, else names the service's closest instance id.
 */
export async function withKnownInstance<T>(client: ControlPlaneClient, service: string, id: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!isTrellisError(err) || err.code !== ErrorCodes.INSTANCE_NOT_FOUND) throw err;
    await requireKnownService(client, service);
    const ids = (await client.instances(service)).instances.map((i) => i.id);
    throw new TrellisError(ErrorCodes.INSTANCE_NOT_FOUND,
      `service ${JSON.stringify(service)} has no instance ${JSON.stringify(id)}${didYouMean(id, ids)} (see \`trellis instances ${service}\`; an instance critical for too long is deregistered)`,
      { field: 'id', cause: err });
  }
}
