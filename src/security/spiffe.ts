/**
 * Workload identities as SPIFFE IDs: `spiffe://<trust-domain>/ns/<namespace>/svc/<service>`,
 * carried in a certificate's URI SAN. One format, one parser.
 */
import type { PeerIdentity, SpiffeId } from '../core/identity.js';

export const DEFAULT_TRUST_DOMAIN = 'trellis.local';
export const DEFAULT_NAMESPACE = 'default';

/** A trust domain: lower-case DNS-like labels (SPIFFE allows [a-z0-9.-_]). */
export const TRUST_DOMAIN = /^[a-z0-9]([a-z0-9._-]{0,253}[a-z0-9])?$/;
const SEGMENT = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SPIFFE_ID = /^spiffe:\/\/([a-z0-9._-]+)\/ns\/([a-z0-9-]+)\/svc\/([a-z0-9-]+)$/;

export function spiffeId(trustDomain: string, namespace: string, service: string): SpiffeId {
  return `spiffe://${trustDomain}/ns/${namespace}/svc/${service}`;
}

/** The identity in a SPIFFE ID of our shape, or undefined. */
export function parseSpiffeId(id: string): PeerIdentity | undefined {
  const match = SPIFFE_ID.exec(id);
  if (match === null) return undefined;
  const [, trustDomain, namespace, service] = match as unknown as [string, string, string, string];
  if (!TRUST_DOMAIN.test(trustDomain) || !SEGMENT.test(namespace) || !SEGMENT.test(service)) return undefined;
  return Object.freeze({ spiffeId: id as SpiffeId, trustDomain, namespace, service });
}

export function isNamespace(value: string): boolean {
  return SEGMENT.test(value);
}

/**
 * The SPIFFE identity in a certificate's subjectAltName as Node prints it
 * (`URI:spiffe://…, DNS:…`). A certificate with none, or with more than one, has no identity.
 */
export function identityFromAltNames(subjectAltName: string | undefined): PeerIdentity | undefined {
  if (subjectAltName === undefined) return undefined;
  const uris = subjectAltName.split(/,\s*/).filter((n) => n.startsWith('URI:spiffe://')).map((n) => n.slice(4));
  return uris.length === 1 ? parseSpiffeId(uris[0]) : undefined;
}

/** The identity of a service (in the default trust domain and namespace unless given). */
export function serviceIdentity(service: string, trustDomain = DEFAULT_TRUST_DOMAIN, namespace = DEFAULT_NAMESPACE): PeerIdentity {
  return Object.freeze({ spiffeId: spiffeId(trustDomain, namespace, service), trustDomain, namespace, service });
}

/** How a caller is named in explanations and logs. */
export function callerName(peer: PeerIdentity | undefined): string {
  return peer === undefined ? 'unauthenticated' : peer.spiffeId;
}
