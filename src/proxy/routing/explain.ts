/**
 * What a caller's sidecar would do with one request to a service, explained (`trellis route
 * check`): the same compiled table and precedence the route-match layer uses, the matched
 * route, rule and match (or none), each backend's share and the healthy instances its subset
 * selects, the filters that would act, and the rule's timeouts and retries.
 */
import type { Endpoint } from '../../balancer/types.js';
import type { RouteSpec } from '../../core/route.js';
import { inSubset } from '../discovery/cluster.js';
import { DEFAULT_UPSTREAM_POLICY } from '../policy.js';
import type { UpstreamPolicy } from '../types.js';
import { RouteTable } from './table.js';

export interface BackendExplanation {
  readonly subset: string | null;
  readonly labels: Readonly<Record<string, string>> | null;
  readonly weight: number;
  /** 0–100. */
  readonly percent: number;
  /** Healthy instances the subset selects. */
  readonly instances: readonly string[];
}

export interface RouteExplanation {
  readonly service: string;
  readonly request: { readonly method: string; readonly path: string; readonly headers: Readonly<Record<string, string>> };
  /** undefined: no rule matches; the request goes to every healthy instance as without routes. */
  readonly matched: { readonly route: string; readonly rule: number; readonly match: number } | undefined;
  readonly routes: readonly string[];
  readonly backends: readonly BackendExplanation[];
  readonly filters: readonly string[];
  readonly timeoutMs: number;
  readonly perTryTimeoutMs: number;
  readonly retry: { readonly maxAttempts: number; readonly retryOnStatus: readonly number[] };
  /** Sentences: why this rule, and what the backends mean. */
  readonly why: readonly string[];
}

export function explainRoute(options: {
  service: string; routes: readonly RouteSpec[]; endpoints: readonly Endpoint[];
  method: string; path: string; headers: Readonly<Record<string, string>>; policy?: UpstreamPolicy;
}): RouteExplanation {
  const policy = options.policy ?? DEFAULT_UPSTREAM_POLICY;
  const table = new RouteTable(options.service, options.routes, policy);
  const method = options.method.toUpperCase();
  const headers = Object.fromEntries(Object.entries(options.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const selection = table.match(method, options.path, headers);
  const base = { service: options.service, request: { method, path: options.path, headers }, routes: options.routes.map((r) => r.name) };
  const all = options.endpoints.map((e) => e.id);
  if (selection === undefined) {
    return {
      ...base, matched: undefined, filters: [],
      backends: [{ subset: null, labels: null, weight: 1, percent: 100, instances: all }],
      timeoutMs: policy.timeoutMs, perTryTimeoutMs: policy.perTryTimeoutMs, retry: { maxAttempts: policy.retry.maxAttempts, retryOnStatus: policy.retry.retryOnStatus },
      why: [options.routes.length === 0
        ? `${options.service} has no traffic route: the request goes to any of its ${all.length} healthy instances`
        : `no rule of the ${options.routes.length} route(s) of ${options.service} matches ${method} ${options.path} with these headers: it goes to any of its ${all.length} healthy instances, as without routes`],
    };
  }
  const { rule } = selection;
  const spec = options.routes.find((r) => r.name === rule.route);
  const written = spec?.rules[rule.index];
  const match = written?.matches[selection.match];
  const backends = rule.backends.map((b) => {
    const labels = b.target.subset?.labels ?? null;
    return {
      subset: b.subset ?? null, labels, weight: b.weight,
      percent: rule.totalWeight === 0 ? 0 : Math.round((b.weight / rule.totalWeight) * 1000) / 10,
      instances: options.endpoints.filter((e) => labels === null || inSubset(e, labels)).map((e) => e.id),
    };
  });
  const filters: string[] = [];
  if (rule.rateLimit !== undefined) filters.push(`LocalRateLimit ${rule.rateLimit.requestsPerSecond}/s burst ${rule.rateLimit.burst}${rule.rateLimit.perCaller ? ' per caller' : ''}`);
  if (rule.fault?.delay !== undefined) filters.push(`Fault delay ${rule.fault.delay.durationMs} ms on ${rule.fault.delay.percent}%`);
  if (rule.fault?.abort !== undefined) filters.push(`Fault abort ${rule.fault.abort.status} on ${rule.fault.abort.percent}%`);
  if (rule.requestHeaders !== undefined) filters.push('RequestHeaderModifier');
  if (rule.responseHeaders !== undefined) filters.push('ResponseHeaderModifier');
  if (rule.mirror !== undefined) filters.push(`RequestMirror ${rule.mirror.percent}% to ${rule.mirror.backendRef.name}${rule.mirror.backendRef.subset === undefined ? '' : ` subset ${rule.mirror.backendRef.subset}`}`);
  const conditions = match === undefined ? [] : [
    `path ${match.path.type} ${match.path.value}`,
    ...(match.method === undefined ? [] : [`method ${match.method}`]),
    ...match.headers.map((h) => `header ${h.name} ${h.type === 'Exact' ? '=' : '~'} ${h.value}`),
    ...match.queryParams.map((q) => `query ${q.name} ${q.type === 'Exact' ? '=' : '~'} ${q.value}`),
  ];
  const why = [
    `route ${rule.route} rule ${rule.index} match ${selection.match} (${conditions.join(', ')}) is the first match in precedence order (Exact path, longest path, method, most headers, most query parameters; then route name, rule order)`,
    ...backends.map((b) => `${b.percent}% to ${b.subset === null ? 'every instance' : `subset ${b.subset} (${Object.entries(b.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')})`}: ${b.instances.length === 0 ? 'NO healthy instance — these requests fail with TRELLIS_ERR_NO_HEALTHY_ENDPOINT' : b.instances.join(', ')}`),
  ];
  return {
    ...base, matched: { route: rule.route, rule: rule.index, match: selection.match }, backends, filters,
    timeoutMs: rule.policy.timeoutMs, perTryTimeoutMs: rule.policy.perTryTimeoutMs,
    retry: { maxAttempts: rule.policy.retry.maxAttempts, retryOnStatus: rule.policy.retry.retryOnStatus }, why,
  };
}
