/**
 * An upstream's resilience policy — timeouts, retries, circuit breaking, outlier
 * detection, load balancing — as written in config, validated once, defaults filled in,
 * frozen. Errors name the field (`upstreams.0.retry.maxAttempts`) and say what is allowed.
 *
 *     timeout: 15s              # whole request, all attempts (0 = none)
 *     perTryTimeout: 5s         # one attempt, until its response head (0 = none); default 5s, at most timeout
 *     retry: { maxAttempts: 3, budgetRatio: 0.2, minRetriesPerSecond: 10,
 *              backoffBase: 25ms, backoffMax: 250ms, retryOnStatus: [502, 503, 504] }
 *     circuitBreaker: { maxConcurrent: 1024, maxPending: 1024 }
 *     outlierDetection: { consecutive5xx: 5, consecutiveConnectFailures: 2,
 *                         baseEjection: 30s, maxEjection: 300s, maxEjectionPercent: 50,
 *                         noProgressTimeout: 1s }   # in flight, nothing settled, others answer: ejected
 *     loadBalancer: round-robin  # or { strategy: peak-ewma, config: { … } }
 *     hashHeader: x-user-id      # the key for ring-hash / maglev
 *
 * Durations are milliseconds or strings with a unit ("10s", "250ms").
 */
import { z } from 'zod';
import { strategies } from '../balancer/registry.js';
import { isTrellisError, messageOf } from '../errors.js';
import { durationField, integerField, validationError } from '../util/validation.js';
import type { UpstreamPolicy } from './types.js';

const HOUR_MS = 3_600_000;
const DEFAULT_STRATEGY = 'round-robin';
/**
 * The per-try timeout when none is given: the 15 s request timeout shared by the 3 attempts, as
 * Istio users size `perTryTimeout`. A hung instance (SIGSTOPped, deadlocked) then costs an
 * attempt 5 s, not the whole request, and its timeouts eject it (outlierDetection).
 */
export const DEFAULT_PER_TRY_TIMEOUT_MS = 5_000;

function shareField(name: string) {
  const range = `${name} must be a number between 0 and 1 (0.2 = 20%)`;
  return z.number({ invalid_type_error: range }).min(0, range).max(1, range);
}

function section<Shape extends z.ZodRawShape>(name: string, example: string, shape: Shape) {
  // A section left out is all defaults.
  return z.preprocess((raw) => raw ?? {}, z.object(shape, { invalid_type_error: `${name} must be a map such as ${example}` }).strict());
}

const retryShape = {
  maxAttempts: integerField('maxAttempts', 1, 10).default(3),
  budgetRatio: shareField('budgetRatio').default(0.2),
  minRetriesPerSecond: integerField('minRetriesPerSecond', 0, 100_000).default(10),
  backoffBase: durationField('backoffBase', 1, 60_000).default(25),
  backoffMax: durationField('backoffMax', 1, 300_000).default(250),
  retryOnStatus: z.array(integerField('each status in retryOnStatus', 400, 599), {
    invalid_type_error: 'retryOnStatus must be a list of HTTP statuses such as [502, 503, 504]',
  }).default([502, 503, 504]),
};

const circuitBreakerShape = {
  maxConcurrent: integerField('maxConcurrent', 1, 1_000_000).default(1024),
  maxPending: integerField('maxPending', 0, 1_000_000).default(1024),
};

const outlierDetectionShape = {
  consecutive5xx: integerField('consecutive5xx', 0, 1000).default(5),
  consecutiveConnectFailures: integerField('consecutiveConnectFailures', 0, 1000).default(2),
  baseEjection: durationField('baseEjection', 1, HOUR_MS).default('30s'),
  maxEjection: durationField('maxEjection', 1, 24 * HOUR_MS).default('300s'),
  maxEjectionPercent: integerField('maxEjectionPercent', 0, 100).default(50),
  noProgressTimeout: durationField('noProgressTimeout', 0, HOUR_MS).default('1s'),
};

/** `round-robin`, or `{ strategy, config }`, checked by the registered strategy's own parser. */
const loadBalancerSchema = z.union([z.string(), z.record(z.unknown())], {
  invalid_type_error: `loadBalancer must be a strategy name (${strategies.names.join(', ')}) or { strategy, config }`,
}).transform((raw, ctx): UpstreamPolicy['loadBalancer'] => {
  const spec = typeof raw === 'string' ? { strategy: raw } : raw;
  try {
    const factory = strategies.configure(spec);
    return { strategy: factory.strategy, config: factory.config };
  } catch (err) {
    const field = isTrellisError(err) ? err.field : undefined;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: messageOf(err), path: field === undefined ? [] : field.split('.') });
    return z.NEVER;
  }
});

const policyShape = {
  timeout: durationField('timeout', 0, HOUR_MS).default('15s'),
  perTryTimeout: durationField('perTryTimeout', 0, HOUR_MS).optional(),
  retry: section('retry', '{ maxAttempts: 3 }', retryShape),
  circuitBreaker: section('circuitBreaker', '{ maxConcurrent: 1024, maxPending: 1024 }', circuitBreakerShape),
  outlierDetection: section('outlierDetection', '{ consecutive5xx: 5, baseEjection: 30s }', outlierDetectionShape),
  loadBalancer: loadBalancerSchema.default(DEFAULT_STRATEGY),
  hashHeader: z.string({ invalid_type_error: 'hashHeader must be a header name such as x-user-id' })
    .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'hashHeader must be a header name such as x-user-id')
    .transform((name) => name.toLowerCase())
    .optional(),
};

/** The fields each part of a policy accepts, for "unknown field" messages. */
const acceptedFields: Readonly<Record<string, readonly string[]>> = {
  '': Object.keys(policyShape),
  retry: Object.keys(retryShape),
  circuitBreaker: Object.keys(circuitBreakerShape),
  outlierDetection: Object.keys(outlierDetectionShape),
};

export const upstreamPolicySchema = z.object(policyShape, {
  invalid_type_error: 'an upstream policy must be a map such as { timeout: 10s, retry: { maxAttempts: 3 } }',
}).strict().superRefine((p, ctx) => {
  const problem = (path: string[], message: string): void => { ctx.addIssue({ code: z.ZodIssueCode.custom, path, message }); };
  if (p.timeout > 0 && p.perTryTimeout !== undefined && p.perTryTimeout > p.timeout) {
    problem(['perTryTimeout'], `perTryTimeout (${p.perTryTimeout} ms) is longer than timeout (${p.timeout} ms), so it could never end an attempt: lower it or raise timeout`);
  }
  if (p.retry.backoffBase > p.retry.backoffMax) {
    problem(['retry', 'backoffMax'], `backoffMax (${p.retry.backoffMax} ms) must be at least backoffBase (${p.retry.backoffBase} ms)`);
  }
  if (p.hashHeader === undefined && strategies.get(p.loadBalancer.strategy)?.hashesOnKey === true) {
    problem(['hashHeader'], `loadBalancer ${p.loadBalancer.strategy} places requests by a hash key, so it needs hashHeader (the request header to hash, such as x-user-id); without one every request would land at random`);
  }
  if (p.outlierDetection.baseEjection > p.outlierDetection.maxEjection) {
    problem(['outlierDetection', 'maxEjection'], `maxEjection (${p.outlierDetection.maxEjection} ms) must be at least baseEjection (${p.outlierDetection.baseEjection} ms)`);
  }
}).transform((p): UpstreamPolicy => deepFreeze({
  timeoutMs: p.timeout,
  perTryTimeoutMs: p.perTryTimeout ?? (p.timeout > 0 ? Math.min(DEFAULT_PER_TRY_TIMEOUT_MS, p.timeout) : DEFAULT_PER_TRY_TIMEOUT_MS),
  retry: {
    maxAttempts: p.retry.maxAttempts,
    budgetRatio: p.retry.budgetRatio,
    minRetriesPerSecond: p.retry.minRetriesPerSecond,
    backoffBaseMs: p.retry.backoffBase,
    backoffMaxMs: p.retry.backoffMax,
    retryOnStatus: [...new Set(p.retry.retryOnStatus)],
  },
  circuitBreaker: { ...p.circuitBreaker },
  outlierDetection: {
    consecutive5xx: p.outlierDetection.consecutive5xx,
    consecutiveConnectFailures: p.outlierDetection.consecutiveConnectFailures,
    baseEjectionMs: p.outlierDetection.baseEjection,
    maxEjectionMs: p.outlierDetection.maxEjection,
    maxEjectionPercent: p.outlierDetection.maxEjectionPercent,
    noProgressTimeoutMs: p.outlierDetection.noProgressTimeout,
  },
  loadBalancer: p.loadBalancer,
  ...(p.hashHeader === undefined ? {} : { hashHeader: p.hashHeader }),
}));

/**
 * Validate an upstream policy (`undefined` = all defaults). `raw` holds the policy fields
 * only: a config entry like `{ service, port, ...policy }` passes the rest after taking
 * its own fields out.
 * @param field where the policy sits in the caller's document (`upstreams.0`), for messages.
 * @throws TrellisError VALIDATION naming the field, e.g. `upstreams.0.retry.maxAttempts`.
 */
export function parseUpstreamPolicy(raw: unknown, field: string): UpstreamPolicy {
  const result = upstreamPolicySchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const accepted = acceptedFields[(issue?.path ?? []).join('.')];
  throw validationError(result.error, field, (key) =>
    `unknown field ${JSON.stringify(key)}: remove it or fix its spelling${accepted === undefined ? '' : ` (accepted here: ${accepted.join(', ')})`}`);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** Every default: what an upstream gets when its config says nothing. */
export const DEFAULT_UPSTREAM_POLICY: UpstreamPolicy = parseUpstreamPolicy(undefined, '');
