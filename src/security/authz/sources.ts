/**
 * Matching callers: a rule's `from` entries compiled once into predicates.
 *
 *   *                  any caller with a mesh identity (Istio `principals: ["*"]`)
 *   unauthenticated    a caller without one (plaintext, permissive mode)
 *   spiffe://…         that identity exactly; a trailing `*` matches a prefix
 *                      (`spiffe://trellis.local/ns/prod/*`)
 *   <service name>     any identity whose service is that name, in any namespace
 */
import type { PeerIdentity } from '../../core/identity.js';

export const ANY_AUTHENTICATED = '*';
export const UNAUTHENTICATED = 'unauthenticated';
export const SPIFFE_PREFIX = 'spiffe://';

export type SourceMatcher = (peer: PeerIdentity | undefined) => boolean;

export function compileSource(source: string): SourceMatcher {
  if (source === ANY_AUTHENTICATED) return (peer) => peer !== undefined;
  if (source === UNAUTHENTICATED) return (peer) => peer === undefined;
  if (source.startsWith(SPIFFE_PREFIX)) {
    if (source.endsWith('*')) {
      const prefix = source.slice(0, -1);
      return (peer) => peer !== undefined && peer.spiffeId.startsWith(prefix);
    }
    return (peer) => peer !== undefined && peer.spiffeId === source;
  }
  return (peer) => peer !== undefined && peer.service === source;
}

/** A rule's `from` as one predicate; absent = every caller. */
export function compileSources(from: readonly string[] | undefined): SourceMatcher {
  if (from === undefined) return () => true;
  const matchers = from.map(compileSource);
  if (matchers.length === 1 && matchers[0] !== undefined) return matchers[0];
  return (peer) => {
    for (const match of matchers) if (match(peer)) return true;
    return false;
  };
}
