/**
 * A service's authorization policies as the HTTP RBAC filter of gRFC A41, for the inbound
 * listener of its proxyless gRPC servers (A36). The decision order is the engine's
 * (src/security/authz/engine.ts): a matching deny rule, then a matching allow rule, then the
 * default. One RBAC filter holds one action, so the order takes two filters, tried in turn:
 *
 *   trellis.rbac.deny    action DENY: every deny rule, and callers of a trust domain that is
 *                        neither the mesh's nor federated (denied before any policy)
 *   trellis.rbac.allow   action ALLOW: every allow rule — only when the default is deny (with
 *                        default allow, a request no deny rule matched is allowed anyway)
 *
 * A rule's `from` → principals (`*` an authenticated peer, `unauthenticated` its negation, a
 * SPIFFE ID exact or by prefix, a service name its SPIFFE ID in the mesh's trust domain and
 * the default namespace) matched on the client certificate's URI SAN, so identities need mTLS
 * (A29); `methods` → `:method`; `paths` → the gRPC path, segment by segment. No policy, no
 * filter. The filters are not optional: a gRPC server without RBAC support (grpc-js-xds needs
 * GRPC_XDS_EXPERIMENTAL_RBAC=true) refuses the listener (a NACK, logged) and does not serve,
 * rather than serve without the policy.
 */
import { PolicySet } from '../../security/authz/engine.js';
import { ANY_AUTHENTICATED, SPIFFE_PREFIX, UNAUTHENTICATED } from '../../security/authz/sources.js';
import type { MeshScope, Policy, PolicyRule } from '../../security/authz/types.js';
import { spiffeId } from '../../security/spiffe.js';
import { EXTENSION_TYPES } from './protos.js';

type Json = Record<string, unknown>;

function principal(source: string, scope: MeshScope): Json {
  if (source === ANY_AUTHENTICATED) return { authenticated: {} };
  if (source === UNAUTHENTICATED) return { not_id: { authenticated: {} } };
  if (source.startsWith(SPIFFE_PREFIX)) {
    return { authenticated: { principal_name: source.endsWith('*') ? { prefix: source.slice(0, -1) } : { exact: source } } };
  }
  return { authenticated: { principal_name: { exact: spiffeId(scope.trustDomain, scope.namespace, source) } } };
}

function permission(rule: PolicyRule): Json {
  const parts: Json[] = [];
  if (rule.methods !== undefined) parts.push({ or_rules: { rules: rule.methods.map((m) => ({ header: { name: ':method', exact_match: m } })) } });
  if (rule.paths !== undefined) {
    parts.push({
      or_rules: {
        rules: rule.paths.flatMap((p): Json[] => {
          const bare = p.replace(/\/+$/, '');
          return bare === '' ? [{ any: true }] : [{ url_path: { path: { exact: bare } } }, { url_path: { path: { prefix: `${bare}/` } } }];
        }),
      },
    });
  }
  if (parts.length === 0) return { any: true };
  return parts.length === 1 ? (parts[0] ?? { any: true }) : { and_rules: { rules: parts } };
}

function rbacPolicies(policies: readonly Policy[], action: 'allow' | 'deny', scope: MeshScope): Json {
  const out: Json = {};
  for (const policy of policies) {
    policy.rules.forEach((rule, index) => {
      if (rule.action !== action) return;
      out[`${policy.name}/${rule.name ?? `rules.${index}`}`] = {
        permissions: [permission(rule)],
        principals: rule.from === undefined ? [{ any: true }] : rule.from.map((s) => principal(s, scope)),
      };
    });
  }
  return out;
}

function filter(name: string, action: 'ALLOW' | 'DENY', policies: Json): Json {
  return { name, typed_config: { '@type': EXTENSION_TYPES.rbac, rules: { action, policies } } };
}

/** The RBAC filters for `service` (none when no policy applies to it), to put before the router. */
export function rbacFilters(service: string, policies: Iterable<Policy>, scope: MeshScope): Json[] {
  const set = new PolicySet(service, policies, scope);
  if (set.policies.length === 0) return [];
  const trusted = [scope.trustDomain, ...scope.federatedTrustDomains];
  const foreign = {
    permissions: [{ any: true }],
    principals: [{ and_ids: { ids: [{ authenticated: {} }, { not_id: { or_ids: { ids: trusted.map((td) => ({ authenticated: { principal_name: { prefix: `spiffe://${td}/` } } })) } } }] } }],
  };
  const filters = [filter('trellis.rbac.deny', 'DENY', { 'trellis/foreign-trust-domain': foreign, ...rbacPolicies(set.policies, 'deny', scope) })];
  if (set.defaultAction === 'deny') filters.push(filter('trellis.rbac.allow', 'ALLOW', rbacPolicies(set.policies, 'allow', scope)));
  return filters;
}
