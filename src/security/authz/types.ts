/**
 * Authorization policy (who may call whom), in the spirit of Linkerd's and Istio's
 * AuthorizationPolicy and Consul's intentions. A policy is named, belongs to one
 * destination service (or `*`, the whole mesh), may set that scope's default, and holds
 * ordered allow / deny rules that match callers by identity and, for HTTP, by method and
 * path prefix. See docs/security.md, "Authorization policy", for the decision order.
 */
import type { PeerIdentity } from '../../core/identity.js';

export type Action = 'allow' | 'deny';

/** The destination `*`: a policy for every service of the mesh. */
export const MESH_WIDE = '*';

export interface PolicyRule {
  /** Optional label, shown in explanations and 403 bodies. */
  readonly name?: string;
  readonly action: Action;
  /**
   * Callers this rule is about; absent = every caller, authenticated or not. Each entry:
   * `*` (any mesh identity), `unauthenticated` (no identity), `spiffe://…` (that identity;
   * a trailing `*` matches a prefix), or a service name (of the mesh's trust domain and the
   * destination's namespace).
   */
  readonly from?: readonly string[];
  /** HTTP methods (upper case); absent = every method. */
  readonly methods?: readonly string[];
  /** HTTP path prefixes, matched segment by segment; absent = every path. */
  readonly paths?: readonly string[];
}

/** A policy as stored under /config/policies/<name> and answered by the API. */
export interface Policy {
  readonly name: string;
  /** The destination service, or `*` for every service. */
  readonly service: string;
  /** What happens to a request no rule matched, for this scope (the service, or the mesh). */
  readonly default?: Action;
  readonly rules: readonly PolicyRule[];
}

/** A stored policy and the revision of its last write. */
export interface StoredPolicy extends Policy {
  readonly revision: number;
}

/** The field names of policy watch events (src/core/config-kind.ts). */
export const POLICY_FIELDS = Object.freeze({ nameField: 'name', itemField: 'policy' } as const);

/** What a decision is about: one request (HTTP) or one connection (TCP). */
export interface AccessRequest {
  /** The destination service. */
  readonly service: string;
  /** The caller's workload identity; undefined = unauthenticated. */
  readonly peer: PeerIdentity | undefined;
  readonly protocol: 'http' | 'tcp';
  /** HTTP only. */
  readonly method?: string;
  /** HTTP only: path (and query) as received. */
  readonly path?: string;
}

/**
 * Where decisions are made: the mesh's trust domain and the destination's namespace (a short
 * caller name in `from` means an identity of these), and the other trust domains whose
 * workloads are accepted as callers at all (federation).
 */
export interface MeshScope {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly federatedTrustDomains: readonly string[];
}

/**
 * Why a decision was made: a rule that matched, the default of a scope, or the caller's trust
 * domain (neither the mesh's nor federated: denied before any policy is read).
 */
export type DecisionSource =
  | { readonly kind: 'rule'; readonly policy: string; readonly rule: number; readonly ruleName?: string }
  | { readonly kind: 'default'; readonly scope: 'service' | 'mesh' | 'built-in'; readonly policy?: string }
  | { readonly kind: 'trust-domain'; readonly trustDomain: string };

export interface Decision {
  readonly action: Action;
  readonly allowed: boolean;
  readonly by: DecisionSource;
  /** Who called, as matched: a SPIFFE ID or "unauthenticated". */
  readonly caller: string;
  /** One sentence: what was decided, by which policy and rule (or default), about whom. */
  readonly explanation: string;
}
