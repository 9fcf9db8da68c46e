/**
 * The compiled routes of one upstream service: every match of every route attached to it, in
 * the Gateway API's precedence order — an Exact path before a prefix, then the longest path,
 * then a method match, then the most header matches, then the most query matches; ties go to
 * the route whose name sorts first, then to the earlier rule. The first match that fits a
 * request selects its rule; no match means the service as if it had no route.
 *
 * A rule is compiled once per snapshot: its backends (subsets with weights, each with its
 * frozen Target), its policy (the service's policy with the rule's timeouts and retry on
 * top) and its filters. Matching costs no allocation unless a rule matches on the query.
 */
import type { BackendRef, HeaderModifier, RouteFilter, RouteMatch, RouteRule, RouteSpec, ValueMatch } from '../../core/route.js';
import type { Subset, Target, UpstreamPolicy } from '../types.js';

type FilterOf<T extends RouteFilter['type']> = Extract<RouteFilter, { type: T }>;

export interface CompiledBackend {
  /** The service it sends to: the route's parent, or (a gateway route) the service its backendRef names. */
  readonly service: string;
  readonly subset: string | undefined;
  readonly weight: number;
  /** The target a request routed here carries (the service, the subset, the rule's policy). */
  readonly target: Target;
}

export interface CompiledRule {
  /** `route-name` and the rule's index: the key of per-rule state (rate-limit buckets). */
  readonly route: string;
  readonly index: number;
  readonly key: string;
  readonly backends: readonly CompiledBackend[];
  readonly totalWeight: number;
  readonly policy: UpstreamPolicy;
  readonly requestHeaders: HeaderModifier | undefined;
  readonly responseHeaders: HeaderModifier | undefined;
  readonly mirror: FilterOf<'RequestMirror'>['requestMirror'] & { readonly target: Target } | undefined;
  readonly fault: FilterOf<'Fault'>['fault'] | undefined;
  readonly rateLimit: FilterOf<'LocalRateLimit'>['localRateLimit'] | undefined;
}

/** What the route-match layer found for a request. */
export interface RouteSelection {
  readonly rule: CompiledRule;
  /** Which match of the rule (its index). */
  readonly match: number;
}

type Test = (value: string) => boolean;

interface Entry {
  readonly rule: CompiledRule;
  readonly matchIndex: number;
  readonly method: string | undefined;
  readonly exact: boolean;
  readonly path: string;
  readonly headers: ReadonlyArray<readonly [string, Test]>;
  readonly query: ReadonlyArray<readonly [string, Test]>;
  readonly order: readonly [number, number, number, number, number, string, number, number];
}

function tester(match: ValueMatch): Test {
  if (match.type === 'Exact') return (value) => value === match.value;
  const pattern = new RegExp(`^(?:${match.value})$`, 'u');
  return (value) => pattern.test(value);
}

function headerValue(headers: Readonly<Record<string, string | string[]>>, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : value?.join(',');
}

function compare(a: Entry['order'], b: Entry['order']): number {
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i];
    const y = b[i];
    if (x !== y) return typeof x === 'string' ? x.localeCompare(y as string) : x - (y as number);
  }
  return 0;
}

function filterOf<T extends RouteFilter['type']>(rule: RouteRule, type: T): FilterOf<T> | undefined {
  return rule.filters.find((f): f is FilterOf<T> => f.type === type);
}

/** The service's policy with the rule's timeouts and retry settings on top. */
export function rulePolicy(base: UpstreamPolicy, rule: RouteRule): UpstreamPolicy {
  const { timeouts, retry } = rule;
  if (timeouts === undefined && retry === undefined) return base;
  const backoff = retry?.backoffMs;
  return Object.freeze({
    ...base,
    timeoutMs: timeouts?.requestMs ?? base.timeoutMs,
    perTryTimeoutMs: timeouts?.backendRequestMs ?? base.perTryTimeoutMs,
    retry: Object.freeze({
      ...base.retry,
      maxAttempts: retry?.attempts ?? base.retry.maxAttempts,
      retryOnStatus: retry?.codes ?? base.retry.retryOnStatus,
      ...(backoff === undefined ? {} : { backoffBaseMs: backoff, backoffMaxMs: Math.max(backoff, base.retry.backoffMaxMs) }),
    }),
  });
}

function subsetOf(spec: RouteSpec, name: string | undefined): Subset | undefined {
  if (name === undefined) return undefined;
  const labels = spec.subsets[name];
  return labels === undefined ? undefined : Object.freeze({ name, labels });
}

function targetFor(service: string, policy: UpstreamPolicy, routes: RouteTable | undefined, subset: Subset | undefined): Target {
  return Object.freeze({ direction: 'outbound', service, policy, ...(routes === undefined ? {} : { routes }), ...(subset === undefined ? {} : { subset }) });
}

export class RouteTable {
  readonly service: string;
  /** The routes compiled, as given (for status and `trellis route check`). */
  readonly routes: readonly RouteSpec[];
  readonly #entries: readonly Entry[];
  /** Entries by their path, each list in precedence order: a lookup walks the request's path, not every route. */
  readonly #exact = new Map<string, Entry[]>();
  readonly #prefix = new Map<string, Entry[]>();

  constructor(service: string, routes: readonly RouteSpec[], policy: UpstreamPolicy) {
    this.service = service;
    this.routes = routes;
    const entries: Entry[] = [];
    for (const spec of routes) {
      if (!spec.parentRefs.some((p) => p.name === service)) continue;
      spec.rules.forEach((rule, index) => {
        const compiled = this.#compileRule(spec, rule, index, policy);
        rule.matches.forEach((match: RouteMatch, matchIndex) => {
          entries.push({
            rule: compiled,
            matchIndex,
            method: match.method,
            exact: match.path.type === 'Exact',
            path: match.path.value,
            headers: match.headers.map((h) => [h.name, tester(h)] as const),
            query: match.queryParams.map((q) => [q.name, tester(q)] as const),
            order: [match.path.type === 'Exact' ? 0 : 1, -match.path.value.length, match.method === undefined ? 1 : 0,
              -match.headers.length, -match.queryParams.length, spec.name, index, matchIndex],
          });
        });
      });
    }
    entries.sort((a, b) => compare(a.order, b.order));
    this.#entries = entries;
    for (const entry of entries) {
      const index = entry.exact ? this.#exact : this.#prefix;
      const list = index.get(entry.path);
      if (list === undefined) index.set(entry.path, [entry]);
      else list.push(entry);
    }
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Every match in precedence order (for explanations). */
  get order(): ReadonlyArray<{ readonly route: string; readonly rule: number; readonly match: number }> {
    return this.#entries.map((e) => ({ route: e.rule.route, rule: e.rule.index, match: e.matchIndex }));
  }

  #compileRule(spec: RouteSpec, rule: RouteRule, index: number, base: UpstreamPolicy): CompiledRule {
    const policy = rulePolicy(base, rule);
    const refs: readonly BackendRef[] = rule.backendRefs.length === 0 ? [{ weight: 1 }] : rule.backendRefs;
    const backends = refs.map((ref) => Object.freeze({ service: ref.name ?? this.service, subset: ref.subset, weight: ref.weight, target: targetFor(this.service, policy, this, subsetOf(spec, ref.subset)) }));
    const mirror = filterOf(rule, 'RequestMirror')?.requestMirror;
    return Object.freeze({
      route: spec.name,
      index,
      key: `${spec.name}/${index}`,
      backends: Object.freeze(backends),
      totalWeight: backends.reduce((sum, b) => sum + b.weight, 0),
      policy,
      requestHeaders: filterOf(rule, 'RequestHeaderModifier')?.requestHeaderModifier,
      responseHeaders: filterOf(rule, 'ResponseHeaderModifier')?.responseHeaderModifier,
      mirror: mirror === undefined ? undefined : Object.freeze({
        ...mirror,
        // A mirror to the parent uses its policy; to another service, that service's own route-less target is taken at send time.
        target: targetFor(mirror.backendRef.name, mirror.backendRef.name === this.service ? policy : base, undefined, subsetOf(spec, mirror.backendRef.subset)),
      }),
      fault: filterOf(rule, 'Fault')?.fault,
      rateLimit: filterOf(rule, 'LocalRateLimit')?.localRateLimit,
    });
  }

  /**
   * The first match (in precedence order) that fits the request; undefined: none does. The
   * candidates are those of the request's exact path, then of each of its prefixes from the
   * longest to `/` — the precedence order's first two keys — so the cost grows with the
   * path's segments and the routes sharing a path, not with the number of routes.
   */
  match(method: string, path: string, headers: Readonly<Record<string, string | string[]>>): RouteSelection | undefined {
    const q = path.indexOf('?');
    const bare = q === -1 ? path : path.slice(0, q);
    const query: { params?: URLSearchParams } = {};
    const params = (): URLSearchParams => (query.params ??= new URLSearchParams(q === -1 ? '' : path.slice(q + 1)));
    const exact = this.#exact.get(bare);
    const found = exact === undefined ? undefined : firstFit(exact, method, headers, params);
    if (found !== undefined) return found;
    // Prefixes at segment boundaries: /a/b/c → /a/b/c, /a/b, /a, /
    let end = bare.length > 1 && bare.endsWith('/') ? bare.length - 1 : bare.length;
    while (end > 0) {
      const list = this.#prefix.get(bare.slice(0, end));
      const hit = list === undefined ? undefined : firstFit(list, method, headers, params);
      if (hit !== undefined) return hit;
      end = bare.lastIndexOf('/', end - 1);
    }
    const root = this.#prefix.get('/');
    return root === undefined ? undefined : firstFit(root, method, headers, params);
  }
}

function firstFit(entries: readonly Entry[], method: string, headers: Readonly<Record<string, string | string[]>>, params: () => URLSearchParams): RouteSelection | undefined {
  for (const entry of entries) {
    if (entry.method !== undefined && entry.method !== method) continue;
    let fits = true;
    for (const [name, test] of entry.headers) {
      const v = headerValue(headers, name);
      if (v === undefined || !test(v)) { fits = false; break; }
    }
    if (!fits) continue;
    for (const [name, test] of entry.query) {
      const v = params().get(name);
      if (v === null || !test(v)) { fits = false; break; }
    }
    if (fits) return { rule: entry.rule, match: entry.matchIndex };
  }
  return undefined;
}

/** A backend of the rule by weight; `draw` is uniform in [0, 1). */
export function chooseBackend(rule: CompiledRule, draw: number): CompiledBackend | undefined {
  if (rule.totalWeight <= 0) return undefined;
  let point = draw * rule.totalWeight;
  let last: CompiledBackend | undefined;
  for (const backend of rule.backends) {
    if (backend.weight === 0) continue;
    if (point < backend.weight) return backend;
    point -= backend.weight;
    last = backend;
  }
  return last;
}
