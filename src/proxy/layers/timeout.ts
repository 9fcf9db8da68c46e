/**
 * The whole-request deadline (`policy.timeoutMs`, counted from the request's arrival and
 * covering every attempt and back-off): when it passes, the in-flight attempt is aborted
 * through the request's signal and the answer is UPSTREAM_TIMEOUT.
 */
import type { Layer } from '../types.js';
import { runWithDeadline } from './deadline.js';
import { DeadlineQueue } from './deadline-queue.js';

export interface TimeoutLayerOptions {
  /** Monotonic ms, the clock of `request.startedAt` (default performance.now). */
  readonly now?: () => number;
}

export function createTimeoutLayer(options: TimeoutLayerOptions = {}): Layer {
  const now = options.now ?? (() => performance.now());
  // One timer per timeout value in use, not one per request (./deadline-queue.ts).
  const queue = new DeadlineQueue(now);
  return (next) => (request) => {
    const { timeoutMs } = request.target.policy;
    if (timeoutMs <= 0) return next(request);
    return runWithDeadline(next, request, { scope: 'request', timeoutMs, remainingMs: request.startedAt + timeoutMs - now() }, queue);
  };
}
