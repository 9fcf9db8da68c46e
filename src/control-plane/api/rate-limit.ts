/**
 * Registrations and heartbeats per token, as token buckets: each token (the admin token, a join
 * token, a sidecar session) may make `perSecond` of them a second on average, in bursts of up
 * to `burst`; a bulk call costs one per entry. Beyond that the call is refused at once with 429
 * TRELLIS_ERR_RATE_LIMITED and `Retry-After` (seconds), before it does any work — so one token
 * flooding the control plane cannot starve the others.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { Principal } from '../../security/access/permissions.js';

export interface RateLimitOptions {
  /** Writes per second per token; 0 turns the limit off. */
  perSecond: number;
  /** Bucket size (default: 2 × perSecond). */
  burst?: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitOptions = { perSecond: 10_000 };

interface Bucket { tokens: number; at: number }

/** Idle buckets are forgotten after this (they would be full again anyway). */
const FORGET_AFTER_MS = 60_000;

export class RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  #sweptAt = 0;

  constructor(options: RateLimitOptions, now: () => number = () => performance.now()) {
    this.#perMs = options.perSecond / 1_000;
    this.#burst = options.burst ?? options.perSecond * 2;
    this.#now = now;
  }

  get enabled(): boolean {
    return this.#perMs > 0;
  }

  /** Take `cost` from `key`'s bucket; undefined when allowed, else the ms to wait. */
  take(key: string, cost: number): number | undefined {
    if (!this.enabled) return undefined;
    const now = this.#now();
    this.#sweep(now);
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, at: now };
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#perMs);
    bucket.at = now;
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return undefined;
    }
    return Math.ceil((Math.min(cost, this.#burst) - bucket.tokens) / this.#perMs);
  }

  #sweep(now: number): void {
    if (now - this.#sweptAt < FORGET_AFTER_MS) return;
    this.#sweptAt = now;
    for (const [key, bucket] of this.#buckets) if (now - bucket.at > FORGET_AFTER_MS) this.#buckets.delete(key);
  }
}

/** The rate limit's bucket of a caller. */
export function principalKey(principal: Principal | undefined): string {
  if (principal === undefined) return 'anonymous';
  return principal.kind === 'admin' ? 'admin' : `${principal.kind}:${principal.tokenId}`;
}

/** A preHandler charging `cost(request)` to the request's token. */
export function rateLimited(limiter: RateLimiter, cost: (request: FastifyRequest) => number = () => 1) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const waitMs = limiter.take(principalKey(request.principal), cost(request));
    if (waitMs === undefined) return;
    const error = rateLimitError(waitMs);
    void reply.header('retry-after', String(error.details?.['retryAfterSeconds']));
    throw error;
  };
}

/** RATE_LIMITED for a caller that must wait `waitMs` (whole seconds, at least 1, in `retryAfterSeconds`). */
export function rateLimitError(waitMs: number): TrellisError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1_000));
  return new TrellisError(ErrorCodes.RATE_LIMITED,
    `too many registrations and heartbeats from this token: retry after ${seconds} s (the limit is per token; see docs/operations.md)`,
    { details: { retryAfterSeconds: seconds } });
}
