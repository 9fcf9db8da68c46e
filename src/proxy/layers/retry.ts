/**
 * Retries: send a failed attempt again, to another endpoint (the balance layer skips the
 * ids in `request.tried`, which this layer fills after every attempt).
 *
 * Whether an attempt may be retried is the verdict's (`verdictOf(...).retryable`,
 * ../classify.ts): an endpoint failure that provably never reached the app (connect refused,
 * reset before a byte was sent) whatever the method; else, for idempotent methods, an
 * endpoint failure or a status in `retry.retryOnStatus` (502, 503, 504 by default). A
 * failure that names no endpoint (no healthy instance, circuit open) is about the service,
 * not one instance, and is not retried. This layer adds its bounds: a body that can be sent
 * again (`request.body.replayable`), and the ones below.
 *
 * Bounds: `retry.maxAttempts` attempts in all; a per-service retry budget
 * (./retry-budget.ts); the whole-request deadline — a retry whose wait would not end
 * before it is not made. Waits: exponential back-off with full jitter (./backoff.ts), or
 * the upstream's Retry-After when it gave one; a Retry-After over {@link MAX_RETRY_AFTER_MS}
 * means "not now" and the answer goes back to the client as it is.
 * Each attempt may have its own deadline (`perTryTimeoutMs`).
 *
 * When a retry finds nothing to send to (all instances tried or ejected), the previous
 * attempt's answer stands: the client sees the upstream's real 503, not a proxy error.
 * To that end a retried response's body is read into memory while the back-off runs when
 * it is small (≤ 64 KiB; else it is destroyed), which also frees its connection and its
 * circuit-breaker slot before the next attempt.
 */
import { verdictOf } from '../classify.js';
import type { Handler, Layer, Outcome, ProxyRequest } from '../types.js';
import { backoffDelay, sleep } from './backoff.js';
import { failed } from '../failure.js';
import { cancelledFailure, runWithDeadline } from './deadline.js';
import { DeadlineQueue } from './deadline-queue.js';
import { discardOutcome, endpointOf, keepAside } from './outcome.js';
import { parseRetryAfter } from './retry-after.js';
import { RetryBudget } from './retry-budget.js';
import { Counters } from './stats.js';

/** A Retry-After longer than this is not waited for: the response is returned as it is. */
export const MAX_RETRY_AFTER_MS = 10_000;

export const RETRY_COUNTERS = ['requests', 'retries', 'budgetExhausted'] as const;
export type RetryCounter = (typeof RETRY_COUNTERS)[number];

/** Per service: requests seen, retries made, retries refused because the budget was spent. */
export function createRetryStats(): Counters<RetryCounter> {
  return new Counters(RETRY_COUNTERS);
}

export interface RetryLayerOptions {
  /** Uniform in [0, 1), for the jitter (default Math.random). */
  readonly random?: () => number;
  /** Monotonic ms, the clock of `request.startedAt` and of the budget (default performance.now). */
  readonly now?: () => number;
  /** Wall-clock ms, for Retry-After dates (default Date.now). */
  readonly wallClock?: () => number;
  /** Where the counters go (default: a private set, see {@link createRetryStats}). */
  readonly stats?: Counters<RetryCounter>;
}

export function createRetryLayer(options: RetryLayerOptions = {}): Layer {
  const random = options.random ?? Math.random;
  const now = options.now ?? (() => performance.now());
  const wallClock = options.wallClock ?? Date.now;
  const stats = options.stats ?? createRetryStats();
  const budgets = new Map<string, RetryBudget>();

  const budgetFor = (service: string): RetryBudget => {
    let budget = budgets.get(service);
    if (budget === undefined) budgets.set(service, (budget = new RetryBudget()));
    return budget;
  };

  /** The wait before the next attempt, or undefined when `outcome` is the answer. */
  const retryDelay = (request: ProxyRequest, outcome: Outcome, attempts: number): number | undefined => {
    const { policy } = request.target;
    if (attempts >= policy.retry.maxAttempts || request.signal.aborted || !request.body.replayable) return undefined;
    if (!verdictOf(request, outcome).retryable) return undefined;
    const retryAfterMs = outcome.ok
      ? parseRetryAfter(outcome.response.headers['retry-after'], wallClock())
      : secondsToMs(outcome.failure.retryAfterSeconds);
    if (retryAfterMs !== undefined && retryAfterMs > MAX_RETRY_AFTER_MS) return undefined;
    const delay = retryAfterMs ?? backoffDelay(attempts, policy.retry.backoffBaseMs, policy.retry.backoffMaxMs, random);
    const remaining = policy.timeoutMs > 0 ? request.startedAt + policy.timeoutMs - now() : Infinity;
    return delay < remaining ? delay : undefined;
  };

  // Per-try deadlines: one timer per per-try timeout value in use, not one per attempt.
  const deadlines = new DeadlineQueue(now);

  return (next) => {
    const attempt: Handler = (request) => {
      const { perTryTimeoutMs } = request.target.policy;
      return perTryTimeoutMs > 0
        ? runWithDeadline(next, request, { scope: 'try', timeoutMs: perTryTimeoutMs, remainingMs: perTryTimeoutMs }, deadlines)
        : next(request);
    };
    /** After every attempt: the endpoint it went to is not picked again for this request. */
    const noteTried = (request: ProxyRequest, outcome: Outcome): Outcome => {
      const endpoint = endpointOf(outcome);
      if (endpoint !== undefined) request.tried.add(endpoint.id);
      return outcome;
    };

    /** Retries from the first outcome on, its wait already worked out (`delay`). */
    const retry = async (request: ProxyRequest, budget: RetryBudget, first: Outcome, firstDelay: number): Promise<Outcome> => {
      const { service, policy } = request.target;
      let outcome = first;
      let delay: number | undefined = firstDelay;
      for (let attempts = 1; delay !== undefined; attempts++) {
        if (!budget.withdraw(now(), policy.retry)) {
          stats.add(service, 'budgetExhausted');
          return outcome;
        }
        stats.add(service, 'retries');
        // Keep this answer aside, in case the retry finds no instance to send to, while the back-off runs.
        const [kept, waited] = await Promise.all([keepAside(outcome), sleep(delay, request.signal)]);
        if (!waited) return kept ?? failed(cancelledFailure(request, 'while it waited to be retried', endpointOf(outcome), true));
        const retried = noteTried(request, await attempt(request));
        if (kept !== undefined && endpointOf(retried) === undefined) {
          discardOutcome(retried);
          return kept;
        }
        if (kept !== undefined) discardOutcome(kept);
        outcome = retried;
        delay = retryDelay(request, outcome, attempts + 1);
      }
      return outcome;
    };

    // The first attempt without an async frame: most requests end with it.
    return (request) => {
      const budget = budgetFor(request.target.service);
      budget.deposit(now());
      stats.add(request.target.service, 'requests');
      let first: Promise<Outcome>;
      try {
        first = attempt(request);
      } catch (err) {
        return Promise.reject(err);
      }
      return first.then((outcome) => {
        noteTried(request, outcome);
        const delay = retryDelay(request, outcome, 1);
        return delay === undefined ? outcome : retry(request, budget, outcome, delay);
      });
    };
  };
}

function secondsToMs(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : seconds * 1000;
}
