/**
 * Matching callers: a rule's `from` entries compiled once into predicates.
 *
 *   *                  any caller with a mesh identity (Istio `principals: ["*"]`)
 *   unauthenticated    a caller without one (plaintext, permissive mode)
 *   spiffe://…         that identity exactly; a trailing `*` matches a prefix
 *                      (`spiffe://trellis.local/ns/prod/*`)
 *   <service name>     that service in the mesh's trust domain and the destination's
 *                      namespace only (`spiffe://<td>/ns/<ns>/svc/<name>`); another
 *                      namespace or a federated trust domain is named by its SPIFFE ID
 */
import type { PeerIdentity } from '../../core/identity.js';
import type { MeshScope } from './types.js';

export const ANY_AUTHENTICATED = '*';
export const UNAUTHENTICATED = 'unauthenticated';
export const SPIFFE_PREFIX = 'spiffe://';

export type SourceMatcher = (peer: PeerIdentity | undefined) => boolean;

export function compileSource(source: string, scope: MeshScope): SourceMatcher {
  if (source === ANY_AUTHENTICATED) return (peer) => peer !== undefined;
  if (source === UNAUTHENTICATED) return (peer) => peer === undefined;
  if (source.startsWith(SPIFFE_PREFIX)) {
    if (source.endsWith('*')) {
      const prefix = source.slice(0, -1);
      return (peer) => peer !== undefined && peer.spiffeId.startsWith(prefix);
    }
    return (peer) => peer !== undefined && peer.spiffeId === source;
  }
  const { trustDomain, namespace } = scope;
  return (peer) => peer !== undefined && peer.service === source && peer.namespace === namespace && peer.trustDomain === trustDomain;
}

/** A rule's `from` as one predicate; absent = every caller. */
export function compileSources(from: readonly string[] | undefined, scope: MeshScope): SourceMatcher {
  if (from === undefined) return () => true;
  const matchers = from.map((source) => compileSource(source, scope));
  if (matchers.length === 1 && matchers[0] !== undefined) return matchers[0];
  return (peer) => {
    for (const match of matchers) if (match(peer)) return true;
    return false;
  };
}
