/**
 * A route's local rate limit (filter LocalRateLimit): a token bucket per route rule — or per
 * rule and caller identity with `perCaller` — holding `burst` tokens and refilled at
 * `requestsPerSecond`. A request that finds the bucket empty is answered 429
 * TRELLIS_ERR_RATE_LIMITED with Retry-After (whole seconds until a token is back) and never
 * sent. The limit is local: each caller's sidecar keeps its own buckets (docs/traffic-policy.md).
 */
import { performance } from 'node:perf_hooks';
import { ErrorCodes } from '../../errors.js';
import { failed, proxyFailure } from '../failure.js';
import type { Layer, ProxyRequest } from '../types.js';

/** Buckets kept at most (per-caller buckets of callers long gone are dropped first). */
const MAX_BUCKETS = 10_000;

export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  #tokens: number;
  #at: number;

  constructor(rate: number, burst: number, now: number) {
    this.rate = rate;
    this.burst = burst;
    this.#tokens = burst;
    this.#at = now;
  }

  /** Take a token: 0 when taken, else the seconds until one is back. */
  take(now: number): number {
    const tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    if (tokens >= 1) {
      this.#tokens = tokens - 1;
      return 0;
    }
    this.#tokens = tokens;
    return (1 - tokens) / this.rate;
  }
}

/** The caller a per-caller bucket is for: the gateway's authenticated client, else the mTLS peer. */
function callerOf(request: ProxyRequest): string {
  return request.client ?? request.peer?.spiffeId ?? 'local';
}

export function createRateLimitLayer(now: () => number = () => performance.now()): Layer {
  const buckets = new Map<string, TokenBucket>();
  return (next) => (request) => {
    const rule = request.route?.rule;
    const limit = rule?.rateLimit;
    if (rule === undefined || limit === undefined) return next(request);
    const key = `${request.target.service}|${rule.key}${limit.perCaller ? `|${callerOf(request)}` : ''}`;
    const at = now();
    let bucket = buckets.get(key);
    if (bucket === undefined || bucket.rate !== limit.requestsPerSecond || bucket.burst !== limit.burst) {
      if (buckets.size >= MAX_BUCKETS) buckets.delete(buckets.keys().next().value as string);
      bucket = new TokenBucket(limit.requestsPerSecond, limit.burst, at);
      buckets.set(key, bucket);
    }
    const waitSeconds = bucket.take(at);
    if (waitSeconds === 0) return next(request);
    const who = limit.perCaller ? ` per caller (${callerOf(request)})` : '';
    return Promise.resolve(failed({
      ...proxyFailure(ErrorCodes.RATE_LIMITED, `route ${rule.route} rule ${rule.index} of ${request.target.service} allows ${limit.requestsPerSecond} requests/s${who} (burst ${limit.burst}): this one was over the limit and not sent`),
      retryAfterSeconds: Math.max(1, Math.ceil(waitSeconds)),
    }));
  };
}
