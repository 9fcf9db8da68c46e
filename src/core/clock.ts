/**
 * Time, injected: what reads the time or waits (health checks, the TTL side of health, tokens,
 * sessions, certificates) takes a Clock, the real one by default, so that tests can run them
 * on a controlled clock with exact boundaries instead of wall-clock windows and real waits
 * (test/helpers/manual-clock.ts).
 */
import { performance } from 'node:perf_hooks';

/** A scheduled callback; `cancel()` is idempotent and safe after it ran. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Wall-clock milliseconds since the epoch (as Date.now()): expiries, timestamps. */
  now(): number;
  /** Monotonic milliseconds (as performance.now()): durations, never timestamps. */
  monotonic(): number;
  /** Runs `callback` once after `delayMs`. The timer never keeps the process alive (unref'd). */
  setTimeout(callback: () => void, delayMs: number): Timer;
  /** Runs `callback` every `intervalMs` until cancelled; unref'd too. */
  setInterval(callback: () => void, intervalMs: number): Timer;
}

/** The real clock: Date.now, performance.now and Node's timers, unref'd. */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout(callback: () => void, delayMs: number): Timer {
    const timer = setTimeout(callback, delayMs);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
  setInterval(callback: () => void, intervalMs: number): Timer {
    const timer = setInterval(callback, intervalMs);
    timer.unref();
    return { cancel: () => clearInterval(timer) };
  },
});

/** A promise that resolves after `delayMs` on `clock` (for retry back-offs and the like). */
export function delay(clock: Clock, delayMs: number): Promise<void> {
  return new Promise((resolve) => { clock.setTimeout(resolve, delayMs); });
}
