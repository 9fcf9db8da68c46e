/**
 * A service's RouteConfiguration: its traffic routes (issue 15, the HTTPRoute-shaped resource)
 * as xDS routes, then the service-wide default route.
 *
 *   - every match of every route attached to the service, in the Gateway API's precedence
 *     order — the order the sidecars use (src/proxy/routing/table.ts computes it) — because
 *     xDS routes are tried first to last;
 *   - path Exact → `path`; PathPrefix `/` → every path; PathPrefix P → the path P or below it,
 *     segment by segment (a `safe_regex`, as Envoy's prefix is character-wise); a method →
 *     `:method` (gRPC calls are POSTs); headers Exact / RegularExpression → `exact_match` /
 *     `safe_regex_match`; a match on query parameters can never match a gRPC call and is left out;
 *   - the rule's backends → `weighted_clusters`, one cluster per subset (`<service>/k=v,…`,
 *     whose EDS holds the service's instances carrying those labels), the whole service →
 *     cluster `<service>`; weight-0 backends are left out;
 *   - the rule's timeouts and retry over the service's policy (as the sidecars apply them):
 *     `max_stream_duration` (A31), a retry policy (A44); the hash policy for ring hash (A42).
 *
 * Filters the gRPC data plane has no equivalent for (header modifiers, mirrors, local rate
 * limits, faults) apply at sidecars only (docs/proxyless.md).
 */
import type { RouteMatch, RouteSpec } from '../../core/route.js';
import { RouteTable, rulePolicy } from '../../proxy/routing/table.js';
import type { UpstreamPolicy } from '../../proxy/types.js';
import { TYPE_URLS } from './protos.js';
import { duration, HASHING, type ResourceBody } from './resources.js';

type Labels = Readonly<Record<string, string>>;

/** The cluster of a subset: the service's instances with these labels. */
export function subsetClusterName(service: string, labels: Labels): string {
  return `${service}/${Object.keys(labels).sort().map((k) => `${k}=${labels[k] ?? ''}`).join(',')}`;
}

/** Every subset the routes of `service` send traffic to, by cluster name. */
export function subsetsOf(service: string, routes: readonly RouteSpec[]): Map<string, Labels> {
  const out = new Map<string, Labels>();
  for (const spec of routes) {
    if (!spec.parentRefs.some((p) => p.name === service)) continue;
    for (const rule of spec.rules) {
      for (const ref of rule.backendRefs) {
        const labels = ref.subset === undefined ? undefined : spec.subsets[ref.subset];
        if (labels !== undefined && ref.weight > 0) out.set(subsetClusterName(service, labels), labels);
      }
    }
  }
  return out;
}

/** gRPC retries on statuses: 502, 503 and 504 map to UNAVAILABLE (the gRPC over HTTP/2 mapping). */
function retryPolicy(policy: UpstreamPolicy): Record<string, unknown> | undefined {
  const retries = Math.min(policy.retry.maxAttempts, 5) - 1;
  if (retries <= 0 || !policy.retry.retryOnStatus.some((s) => s === 502 || s === 503 || s === 504)) return undefined;
  return {
    retry_on: 'unavailable',
    num_retries: { value: retries },
    retry_back_off: { base_interval: duration(policy.retry.backoffBaseMs), max_interval: duration(policy.retry.backoffMaxMs) },
  };
}

function action(policy: UpstreamPolicy, target: { cluster: string } | { weighted_clusters: unknown }): Record<string, unknown> {
  const retry = retryPolicy(policy);
  return {
    ...target,
    ...(policy.timeoutMs > 0 ? { max_stream_duration: { max_stream_duration: duration(policy.timeoutMs) } } : {}),
    ...(retry === undefined ? {} : { retry_policy: retry }),
    ...(policy.hashHeader !== undefined && HASHING.has(policy.loadBalancer.strategy)
      ? { hash_policy: [{ header: { header_name: policy.hashHeader } }] } : {}),
  };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The xDS RouteMatch of a route match; undefined for one no gRPC call can meet. */
function matchOf(match: RouteMatch): Record<string, unknown> | undefined {
  if (match.queryParams.length > 0) return undefined;
  const { type, value } = match.path;
  const bare = value.replace(/\/+$/, '');
  const path = type === 'Exact' ? { path: value }
    : bare === '' ? { prefix: '' }
      : { safe_regex: { regex: `${escapeRegex(bare)}(/.*)?` } };
  const headers = match.headers.map((h) => (h.type === 'Exact'
    ? { name: h.name, exact_match: h.value }
    : { name: h.name, safe_regex_match: { regex: h.value } }));
  if (match.method !== undefined) headers.push({ name: ':method', exact_match: match.method });
  return { ...path, headers };
}

export function routeConfiguration(service: string, policy: UpstreamPolicy, routes: readonly RouteSpec[]): ResourceBody {
  const table = new RouteTable(service, routes, policy);
  const byName = new Map(routes.map((r) => [r.name, r]));
  const xdsRoutes: unknown[] = [];
  for (const { route, rule: ruleIndex, match: matchIndex } of table.order) {
    const spec = byName.get(route);
    const rule = spec?.rules[ruleIndex];
    const match = rule?.matches[matchIndex];
    if (spec === undefined || rule === undefined || match === undefined) continue;
    const xdsMatch = matchOf(match);
    const backends = rule.backendRefs.length === 0 ? [{ weight: 1, subset: undefined }] : rule.backendRefs.filter((b) => b.weight > 0);
    if (xdsMatch === undefined || backends.length === 0) continue;
    const clusterOf = (subset: string | undefined): string => {
      const labels = subset === undefined ? undefined : spec.subsets[subset];
      return labels === undefined ? service : subsetClusterName(service, labels);
    };
    const target = backends.length === 1
      ? { cluster: clusterOf(backends[0]?.subset) }
      : { weighted_clusters: { clusters: backends.map((b) => ({ name: clusterOf(b.subset), weight: { value: b.weight } })) } };
    xdsRoutes.push({ name: `${route}/${ruleIndex}/${matchIndex}`, match: xdsMatch, route: action(rulePolicy(policy, rule), target) });
  }
  xdsRoutes.push({ name: 'default', match: { prefix: '' }, route: action(policy, { cluster: service }) });
  return {
    '@type': TYPE_URLS.route,
    name: service,
    virtual_hosts: [{ name: service, domains: ['*'], routes: xdsRoutes }],
  };
}
