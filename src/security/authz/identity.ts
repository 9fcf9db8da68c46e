/**
 * Workload identities as SPIFFE IDs: `spiffe://<trust-domain>/ns/<namespace>/svc/<service>`.
 * Used to read `policy check --from` (a service name or a SPIFFE ID) and to print callers.
 */
import type { PeerIdentity } from '../../proxy/types.js';

/** The trust domain and namespace a bare service name stands for in `policy check`. */
export const DEFAULT_TRUST_DOMAIN = 'trellis.local';
export const DEFAULT_NAMESPACE = 'default';

const SPIFFE_ID = /^spiffe:\/\/([a-z0-9._-]{1,255})\/ns\/([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)\/svc\/([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$/;

/** The identity a SPIFFE ID names; undefined when it is not of the mesh's form. */
export function parseSpiffeId(id: string): PeerIdentity | undefined {
  const match = SPIFFE_ID.exec(id);
  if (match === null) return undefined;
  const [, trustDomain, namespace, , service] = match;
  if (trustDomain === undefined || namespace === undefined || service === undefined) return undefined;
  return Object.freeze({ spiffeId: id, trustDomain, namespace, service });
}

/** The identity of a service in the default trust domain and namespace. */
export function serviceIdentity(service: string, trustDomain = DEFAULT_TRUST_DOMAIN, namespace = DEFAULT_NAMESPACE): PeerIdentity {
  return Object.freeze({ spiffeId: `spiffe://${trustDomain}/ns/${namespace}/svc/${service}`, trustDomain, namespace, service });
}

/** How a caller is named in explanations and logs. */
export function callerName(peer: PeerIdentity | undefined): string {
  return peer === undefined ? 'unauthenticated' : peer.spiffeId;
}
