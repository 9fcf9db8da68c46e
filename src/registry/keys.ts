/**
 * The registry's key layout in the store:
 *   /services/<service>/instances/<id>  → instance JSON (no lease: it outlives missed heartbeats)
 *   /heartbeats/<service>/<id>          → the heartbeat lease id, attached to that lease
 * A missed TTL expires the lease, the store deletes the heartbeat key, every watcher
 * of /heartbeats/ sees the delete, and the TTL monitor marks the instance critical.
 */
export const SERVICES_PREFIX = '/services/';
export const HEARTBEATS_PREFIX = '/heartbeats/';

export function instanceKey(service: string, id: string): string {
  return `${SERVICES_PREFIX}${service}/instances/${id}`;
}

export function servicePrefix(service: string): string {
  return `${SERVICES_PREFIX}${service}/instances/`;
}

export function heartbeatKey(service: string, id: string): string {
  return `${HEARTBEATS_PREFIX}${service}/${id}`;
}

export interface InstanceRef {
  service: string;
  id: string;
}

/** Read `/services/<svc>/instances/<id>`; undefined for any other key. */
export function parseInstanceKey(key: string): InstanceRef | undefined {
  if (!key.startsWith(SERVICES_PREFIX)) return undefined;
  const parts = key.slice(SERVICES_PREFIX.length).split('/');
  if (parts.length !== 3 || parts[1] !== 'instances' || !parts[0] || !parts[2]) return undefined;
  return { service: parts[0], id: parts[2] };
}

/** Read `/heartbeats/<svc>/<id>`; undefined for any other key. */
export function parseHeartbeatKey(key: string): InstanceRef | undefined {
  if (!key.startsWith(HEARTBEATS_PREFIX)) return undefined;
  const parts = key.slice(HEARTBEATS_PREFIX.length).split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { service: parts[0], id: parts[1] };
}
