/**
 * The policy an upstream gets: one source of truth, three layers, field by field —
 *
 *   built-in defaults  <  the control plane's service defaults  <  this sidecar's own upstream entry
 *
 * A section (`retry`, `circuitBreaker`, `outlierDetection`) merges field by field too, so a
 * local `retry: { maxAttempts: 1 }` keeps the service defaults' `retry.retryOnStatus`;
 * `loadBalancer` is replaced whole. The result is validated once (the same schema); if the
 * combination is invalid (say the defaults' perTryTimeout exceeds a local timeout), the
 * local entry alone applies and the problem is reported in the policy source (and logged).
 */
import { messageOf, isTrellisError } from '../errors.js';
import type { ServiceDefaults } from '../core/service-defaults.js';
import { parseUpstreamPolicy } from '../proxy/policy.js';
import type { UpstreamConfig } from '../proxy/config.js';
import type { PolicySource } from '../proxy/snapshot.js';
import type { UpstreamPolicy } from '../proxy/types.js';

const SECTIONS: ReadonlySet<string> = new Set(['retry', 'circuitBreaker', 'outlierDetection']);

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `top`'s fields over `base`'s; sections merged one level deep. */
export function overlay(base: Readonly<Record<string, unknown>>, top: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(top)) {
    const under = base[key];
    out[key] = SECTIONS.has(key) && isMap(value) && isMap(under) ? { ...under, ...value } : value;
  }
  return out;
}

/** The dotted names of the fields an entry sets (`timeout`, `retry.maxAttempts`). */
export function fieldsOf(entry: Readonly<Record<string, unknown>>): string[] {
  return Object.entries(entry).flatMap(([key, value]) => (SECTIONS.has(key) && isMap(value) ? Object.keys(value).map((inner) => `${key}.${inner}`) : [key]));
}

export interface ResolvedPolicy {
  readonly policy: UpstreamPolicy;
  readonly source: PolicySource;
}

/** Resolve an upstream's policy; `defaults` undefined = the service has none. */
export function resolveUpstreamPolicy(upstream: UpstreamConfig, defaults: ServiceDefaults | undefined): ResolvedPolicy {
  const overrides = Object.freeze(fieldsOf(upstream.overrides));
  if (defaults === undefined) return Object.freeze({ policy: upstream.policy, source: Object.freeze({ serviceDefaultsRevision: undefined, overrides }) });
  try {
    const policy = parseUpstreamPolicy(overlay(defaults.policy, upstream.overrides), '');
    return Object.freeze({ policy, source: Object.freeze({ serviceDefaultsRevision: defaults.revision, overrides }) });
  } catch (err) {
    const field = isTrellisError(err) && err.field !== undefined ? ` (field ${err.field})` : '';
    const problem = `the service defaults of ${upstream.service} (revision ${defaults.revision}) do not combine with this sidecar's own upstream entry${field}: ${messageOf(err)}; only the local entry applies`;
    return Object.freeze({ policy: upstream.policy, source: Object.freeze({ serviceDefaultsRevision: undefined, overrides, problem }) });
  }
}
