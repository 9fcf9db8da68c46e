/**
 * Waiting between attempts: exponential back-off with full jitter (the AWS architecture
 * blog's "full jitter"), so that proxies retrying together spread out instead of
 * hitting a recovering endpoint in waves.
 */
import type { CancelSignal } from '../cancel.js';

/**
 * The wait before retry number `retry` (1 = the first retry): uniform in
 * [0, min(maxMs, baseMs × 2^(retry−1))).
 */
export function backoffDelay(retry: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/** Wait `ms`, unless `signal` aborts first. Resolves true when the whole wait passed. */
export function sleep(ms: number, signal: CancelSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
