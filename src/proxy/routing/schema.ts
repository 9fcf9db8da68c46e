/**
 * Validation of a traffic route (src/core/route.ts): the Gateway API's HTTPRoute shape, with
 * Trellis's instance-label subsets and two extension filters (Fault, LocalRateLimit). One
 * zod schema, then the checks across fields; every error is TrellisError VALIDATION naming
 * the field (`rules.1.backendRefs.0.subset`) and saying how to fix it.
 *
 *     name: orders-canary
 *     parentRefs: [{ name: orders }]                 # kind: Service (the default)
 *     subsets: { v1: { version: v1 }, v2: { version: v2 } }
 *     rules:
 *       - matches: [{ headers: [{ name: x-canary, value: "1" }] }]
 *         backendRefs: [{ subset: v2, weight: 1 }]
 *       - backendRefs: [{ subset: v1, weight: 90 }, { subset: v2, weight: 10 }]
 *         filters:
 *           - { type: Fault, fault: { abort: { status: 503, percent: 5 } } }
 *         timeouts: { request: 2s, backendRequest: 500ms }
 *         retry: { attempts: 3, codes: [502, 503], backoff: 25ms }
 */
import { z } from 'zod';
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { RouteMatch, RouteSpec, ValueMatch } from '../../core/route.js';
import { serviceNameSchema } from '../../registry/schema.js';
import { durationField, integerField, joinPath, parseOrThrow } from '../../util/validation.js';

const HOUR_MS = 3_600_000;
/** Rules in one route, matches in one rule: enough for any hand-written route, bounded for the matcher. */
const MAX_RULES = 64;
const MAX_MATCHES = 16;
const MAX_REGEX_LENGTH = 256;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const LABEL_KEY = /^[A-Za-z0-9._/-]{1,63}$/;

function percentField(name: string) {
  const range = `${name} must be a number between 0 and 100`;
  return z.number({ invalid_type_error: range, required_error: `${name} is required` }).min(0, range).max(100, range);
}

const headerName = (what: string) => z.string({ invalid_type_error: `${what} must be a string` })
  .regex(HEADER_NAME, `${what} must be an HTTP header name (letters, digits, '-')`).transform((s) => s.toLowerCase());

function valueMatch(what: 'header' | 'query parameter') {
  return z.object({
    type: z.enum(['Exact', 'RegularExpression'], { errorMap: () => ({ message: 'type must be Exact or RegularExpression' }) }).default('Exact'),
    name: what === 'header' ? headerName('name') : z.string({ required_error: 'name is required' }).min(1, 'name must not be empty'),
    value: z.string({ required_error: 'value is required', invalid_type_error: 'value must be a string (quote numbers: "1")' }),
  }, { invalid_type_error: `each ${what} match is a map { name, value, type? }` }).strict().superRefine((m, ctx) => {
    if (m.type !== 'RegularExpression') return;
    if (m.value.length > MAX_REGEX_LENGTH) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['value'], message: `a regular expression is at most ${MAX_REGEX_LENGTH} characters` });
    try {
      new RegExp(m.value, 'u');
    } catch (err) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['value'], message: `not a valid regular expression: ${(err as Error).message}` });
    }
  });
}

const pathMatch = z.object({
  type: z.enum(['Exact', 'PathPrefix'], { errorMap: () => ({ message: 'path.type must be Exact or PathPrefix' }) }).default('PathPrefix'),
  value: z.string({ required_error: 'path.value is required' }).startsWith('/', 'a path starts with "/"').max(1024),
}, { invalid_type_error: 'path must be a map { type: Exact|PathPrefix, value: /… }' }).strict()
  // PathPrefix /api/ and /api match the same requests (segment-wise); one spelling.
  .transform((p) => (p.type === 'PathPrefix' && p.value.length > 1 && p.value.endsWith('/') ? { ...p, value: p.value.replace(/\/+$/, '') || '/' } : p));

const matchSchema = z.object({
  path: pathMatch.default({ type: 'PathPrefix', value: '/' }),
  method: z.string({ invalid_type_error: 'method must be a string such as GET' }).regex(/^[A-Za-z]{1,20}$/, 'method must be an HTTP method such as GET').transform((m) => m.toUpperCase()).optional(),
  headers: z.array(valueMatch('header'), { invalid_type_error: 'headers must be a list of { name, value }' }).max(16).default([]),
  queryParams: z.array(valueMatch('query parameter'), { invalid_type_error: 'queryParams must be a list of { name, value }' }).max(16).default([]),
}, { invalid_type_error: 'each match is a map { path, method, headers, queryParams }' }).strict();

const headerModifier = z.object({
  set: z.array(z.object({ name: headerName('name'), value: z.string() }).strict()).max(32).default([]),
  add: z.array(z.object({ name: headerName('name'), value: z.string() }).strict()).max(32).default([]),
  remove: z.array(headerName('each header to remove')).max(32).default([]),
}, { invalid_type_error: 'a header modifier is a map { set: [{name, value}], add: [{name, value}], remove: [name] }' }).strict();

const backendTarget = z.object({
  name: serviceNameSchema,
  subset: z.string().optional(),
}).strict();

const filterSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('RequestHeaderModifier'), requestHeaderModifier: headerModifier }).strict(),
  z.object({ type: z.literal('ResponseHeaderModifier'), responseHeaderModifier: headerModifier }).strict(),
  z.object({ type: z.literal('RequestMirror'), requestMirror: z.object({ backendRef: backendTarget, percent: percentField('percent').default(100) }).strict() }).strict(),
  z.object({
    type: z.literal('Fault'),
    fault: z.object({
      delay: z.object({ duration: durationField('delay.duration', 1, 60_000), percent: percentField('delay.percent') }).strict()
        .transform((d) => ({ durationMs: d.duration, percent: d.percent })).optional(),
      abort: z.object({ status: integerField('abort.status', 400, 599), percent: percentField('abort.percent') }).strict().optional(),
    }).strict().refine((f) => f.delay !== undefined || f.abort !== undefined, 'a fault needs a delay, an abort or both'),
  }).strict(),
  z.object({
    type: z.literal('LocalRateLimit'),
    localRateLimit: z.object({
      requestsPerSecond: z.number({ required_error: 'requestsPerSecond is required', invalid_type_error: 'requestsPerSecond must be a number' })
        .positive('requestsPerSecond must be more than 0').max(1_000_000, 'requestsPerSecond must be at most 1,000,000'),
      burst: integerField('burst', 1, 1_000_000).optional(),
      perCaller: z.boolean({ invalid_type_error: 'perCaller must be true or false' }).default(false),
    }).strict().transform((l) => ({ requestsPerSecond: l.requestsPerSecond, burst: l.burst ?? Math.max(1, Math.ceil(l.requestsPerSecond)), perCaller: l.perCaller })),
  }).strict(),
], { errorMap: (issue, ctx) => (issue.code === z.ZodIssueCode.invalid_union_discriminator
  ? { message: 'filter type must be RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, Fault or LocalRateLimit' }
  : { message: ctx.defaultError }) });

const ruleSchema = z.object({
  matches: z.array(matchSchema, { invalid_type_error: 'matches must be a list' }).max(MAX_MATCHES, `at most ${MAX_MATCHES} matches in a rule`).default([{}]),
  backendRefs: z.array(z.object({
    name: serviceNameSchema.optional(),
    subset: z.string().optional(),
    weight: integerField('weight', 0, 1_000_000).default(1),
  }).strict(), { invalid_type_error: 'backendRefs must be a list of { subset, weight }' }).max(16).default([]),
  filters: z.array(filterSchema, { invalid_type_error: 'filters must be a list of { type, … }' }).max(16).default([]),
  timeouts: z.object({
    request: durationField('timeouts.request', 0, HOUR_MS).optional(),
    backendRequest: durationField('timeouts.backendRequest', 0, HOUR_MS).optional(),
  }).strict().optional(),
  retry: z.object({
    attempts: integerField('retry.attempts', 1, 10).optional(),
    codes: z.array(integerField('each code in retry.codes', 400, 599)).max(32).optional(),
    backoff: durationField('retry.backoff', 1, 60_000).optional(),
  }).strict().optional(),
}, { invalid_type_error: 'each rule is a map { matches, backendRefs, filters, timeouts, retry }' }).strict();

/** A DNS name, or `*.` and one: the hostnames a gateway route answers for (Gateway API HTTPRoute.hostnames). */
const HOSTNAME = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

const routeSchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.literal('HTTPRoute', { errorMap: () => ({ message: 'kind must be HTTPRoute (or left out)' }) }).optional(),
  name: z.string({ required_error: 'name is required: the route\'s name, such as orders-canary', invalid_type_error: 'name must be a string' })
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a route name is a DNS label: 1–63 lowercase letters, digits or "-", starting and ending with a letter or digit'),
  parentRefs: z.array(z.object({
    kind: z.enum(['Service', 'Gateway'], { errorMap: () => ({ message: 'parentRefs kind must be Service (the service its callers reach) or Gateway (a `trellis gateway` at the edge)' }) }).default('Service'),
    name: serviceNameSchema,
  }).strict(), { required_error: 'parentRefs is required: the service(s) this route is for, such as [{ name: orders }]' }).min(1, 'parentRefs needs at least one service').max(16),
  hostnames: z.array(z.string().regex(HOSTNAME, 'a hostname is a DNS name such as api.example.com, or *.example.com for its subdomains'))
    .max(16, 'at most 16 hostnames in a route').optional(),
  subsets: z.record(
    z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a subset name is a DNS label such as v2'),
    z.record(z.string().regex(LABEL_KEY, 'a label key is 1–63 letters, digits, ".", "_", "/" or "-"'), z.string({ invalid_type_error: 'label values are strings (quote numbers: "2")' }),
      { invalid_type_error: 'a subset is a map of instance labels such as { version: v2 }' }),
    { invalid_type_error: 'subsets must be a map of name → instance labels, such as { v2: { version: v2 } }' },
  ).default({}),
  rules: z.array(ruleSchema, { required_error: 'rules is required: at least one rule' }).min(1, 'rules needs at least one rule').max(MAX_RULES, `at most ${MAX_RULES} rules in a route`),
}, { invalid_type_error: 'a route is a map { name, parentRefs, subsets, rules }' }).strict();

function invalid(message: string, field: string): TrellisError {
  return new TrellisError(ErrorCodes.VALIDATION, message, { field });
}

/** A match's identity: two matches with the same key select the same requests. */
export function matchKey(match: RouteMatch): string {
  const values = (list: readonly ValueMatch[]): string[] => list.map((m) => `${m.type}:${m.name}=${m.value}`).sort();
  return JSON.stringify([match.path.type, match.path.value, match.method ?? '', values(match.headers), values(match.queryParams)]);
}

/** The checks across fields: parents, subsets named by backends and mirrors, weights, repeated matches. */
function crossCheck(spec: RouteSpec, field: string): void {
  const parents = new Set(spec.parentRefs.map((p) => p.name));
  if (parents.size !== spec.parentRefs.length) throw invalid('a service appears twice in parentRefs', joinPath(field, 'parentRefs'));
  const gateway = spec.parentRefs.some((p) => p.kind === 'Gateway');
  if (gateway && spec.parentRefs.some((p) => p.kind !== 'Gateway')) {
    throw invalid('a route is attached to services or to gateways, not both: split it in two', joinPath(field, 'parentRefs'));
  }
  if (!gateway && spec.hostnames !== undefined) throw invalid('hostnames are for routes attached to a Gateway (a service route matches by path, method, headers and query)', joinPath(field, 'hostnames'));
  for (const [name, labels] of Object.entries(spec.subsets)) {
    if (Object.keys(labels).length === 0) throw invalid(`subset ${JSON.stringify(name)} selects nothing: give it instance labels such as { version: v2 }`, joinPath(field, 'subsets', name));
  }
  const known = Object.keys(spec.subsets);
  const subsetProblem = (subset: string): string => `unknown subset ${JSON.stringify(subset)}: declare it under subsets (${known.length === 0 ? 'none declared' : `declared: ${known.join(', ')}`})`;
  const seen = new Map<string, string>();
  spec.rules.forEach((rule, r) => {
    const at = (...parts: Array<string | number>): string => joinPath(field, 'rules', String(r), ...parts.map(String));
    if (gateway && rule.backendRefs.length === 0) throw invalid('a gateway route\'s rule needs backendRefs: the mesh service(s) it sends to, such as [{ name: orders }]', at('backendRefs'));
    rule.backendRefs.forEach((ref, b) => {
      if (gateway) {
        if (ref.name === undefined) throw invalid('a gateway route\'s backendRefs name the mesh service to send to: add name', at('backendRefs', b, 'name'));
        if (ref.subset !== undefined) throw invalid('a gateway route sends to whole services; split by subsets with a route attached to the service itself', at('backendRefs', b, 'subset'));
        return;
      }
      if (ref.name !== undefined && !parents.has(ref.name)) {
        throw invalid(`backendRefs name ${JSON.stringify(ref.name)} is not a parent of this route: a route splits the traffic of its parent service (${[...parents].join(', ')}) between its subsets`, at('backendRefs', b, 'name'));
      }
      if (ref.subset !== undefined && !Object.hasOwn(spec.subsets, ref.subset)) throw invalid(subsetProblem(ref.subset), at('backendRefs', b, 'subset'));
    });
    if (rule.backendRefs.length > 0 && rule.backendRefs.every((ref) => ref.weight === 0)) {
      throw invalid('the weights of backendRefs sum to 0: give at least one backend a weight above 0 (or delete the rule)', at('backendRefs'));
    }
    const kinds = new Set<string>();
    rule.filters.forEach((filter, f) => {
      if (kinds.has(filter.type)) throw invalid(`a rule has at most one ${filter.type} filter: merge them`, at('filters', f, 'type'));
      kinds.add(filter.type);
      if (filter.type === 'RequestMirror') {
        const { subset } = filter.requestMirror.backendRef;
        if (subset !== undefined && !Object.hasOwn(spec.subsets, subset)) throw invalid(subsetProblem(subset), at('filters', f, 'requestMirror', 'backendRef', 'subset'));
      }
    });
    const { timeouts } = rule;
    if (timeouts?.requestMs !== undefined && timeouts.backendRequestMs !== undefined && timeouts.requestMs > 0 && timeouts.backendRequestMs > timeouts.requestMs) {
      throw invalid('timeouts.backendRequest (one attempt) cannot be longer than timeouts.request (the whole request)', at('timeouts', 'backendRequest'));
    }
    rule.matches.forEach((match, m) => {
      const key = matchKey(match);
      const earlier = seen.get(key);
      if (earlier !== undefined) throw invalid(`this match is the same as ${earlier}, which comes first and takes every request it would: remove one, or make them differ`, at('matches', m));
      seen.set(key, `rules.${r}.matches.${m}`);
    });
  });
}

type Parsed = z.output<typeof routeSchema>;

function normalise(parsed: Parsed): RouteSpec {
  return {
    name: parsed.name,
    parentRefs: parsed.parentRefs,
    ...(parsed.hostnames === undefined ? {} : { hostnames: parsed.hostnames }),
    subsets: parsed.subsets,
    rules: parsed.rules.map((rule) => ({
      matches: rule.matches.map((m) => ({ path: m.path, headers: m.headers, queryParams: m.queryParams, ...(m.method === undefined ? {} : { method: m.method }) })),
      backendRefs: rule.backendRefs,
      filters: rule.filters,
      ...(rule.timeouts === undefined ? {} : { timeouts: {
        ...(rule.timeouts.request === undefined ? {} : { requestMs: rule.timeouts.request }),
        ...(rule.timeouts.backendRequest === undefined ? {} : { backendRequestMs: rule.timeouts.backendRequest }),
      } }),
      ...(rule.retry === undefined ? {} : { retry: {
        ...(rule.retry.attempts === undefined ? {} : { attempts: rule.retry.attempts }),
        ...(rule.retry.codes === undefined ? {} : { codes: rule.retry.codes }),
        ...(rule.retry.backoff === undefined ? {} : { backoffMs: rule.retry.backoff }),
      } }),
    })),
  };
}

/**
 * Validate a route as written; `field` prefixes the fields named in errors (`routes.2`).
 * @throws TrellisError VALIDATION naming the field.
 */
export function parseRoute(input: unknown, field = ''): RouteSpec {
  const spec = normalise(parseOrThrow(routeSchema, input, field));
  crossCheck(spec, field);
  return deepFreeze(spec);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** A match of one route that another route of the same service also has: the one ordered first takes the requests. */
export interface RouteOverlap {
  readonly service: string;
  /** `route-a rules.0.matches.1`: the one that wins (its name sorts first). */
  readonly wins: string;
  readonly shadowed: string;
}

/** Identical matches across routes attached to the same service (within one route they are an error). */
export function findOverlaps(routes: readonly RouteSpec[]): RouteOverlap[] {
  const first = new Map<string, string>();
  const overlaps: RouteOverlap[] = [];
  for (const route of [...routes].sort((a, b) => a.name.localeCompare(b.name))) {
    for (const parent of route.parentRefs) {
      route.rules.forEach((rule, r) => rule.matches.forEach((match, m) => {
        const key = `${parent.name} ${matchKey(match)}`;
        const here = `${route.name} rules.${r}.matches.${m}`;
        const wins = first.get(key);
        if (wins === undefined) first.set(key, here);
        else if (!wins.startsWith(`${route.name} `)) overlaps.push({ service: parent.name, wins, shadowed: here });
      }));
    }
  }
  return overlaps;
}
