/**
 * A controlled Clock for tests (src/core/clock.ts): time stands still until the test moves
 * it, and timers fire exactly at their due time, in order — so a test asserts exact
 * boundaries ("nothing at 99 ms, the probe at 100 ms") instead of wall-clock windows.
 *
 * Timer callbacks often start asynchronous work (a probe on a real socket) whose end
 * schedules the next timer: wait for that work's own signal with waitFor (a condition with
 * a deadline, never a sleep), then read {@link ManualClock.pending}.
 */
import type { Clock, Timer } from '../../src/core/clock.js';

interface Scheduled {
  readonly seq: number;
  at: number;
  readonly callback: () => void;
  readonly everyMs: number | undefined;
}

export class ManualClock implements Clock {
  #now: number;
  #monotonic = 0;
  #seq = 0;
  readonly #timers = new Map<number, Scheduled>();

  /** Starts at `startMs` wall-clock time (default 2026-01-01T00:00:00Z), monotonic 0. */
  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  monotonic(): number {
    return this.#monotonic;
  }

  setTimeout(callback: () => void, delayMs: number): Timer {
    return this.#add(callback, delayMs, undefined);
  }

  setInterval(callback: () => void, intervalMs: number): Timer {
    return this.#add(callback, intervalMs, Math.max(1, intervalMs));
  }

  /** The delays from now of the pending timers, soonest first. */
  pending(): number[] {
    return [...this.#timers.values()].sort(order).map((t) => t.at - this.#monotonic);
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way at its due
   * time, in order (a timer a callback sets that falls due within the step fires too).
   * Between callbacks, promise continuations run.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new Error(`advance(${ms}): time only moves forward`);
    const end = this.#monotonic + ms;
    for (;;) {
      const next = [...this.#timers.values()].filter((t) => t.at <= end).sort(order)[0];
      if (next === undefined) break;
      this.#moveTo(next.at);
      if (next.everyMs === undefined) this.#timers.delete(next.seq);
      else next.at += next.everyMs;
      next.callback();
      await settle();
    }
    this.#moveTo(end);
    await settle();
  }

  /** Moves to the soonest pending timer and fires it (and any due at the same time). */
  async next(): Promise<void> {
    const delays = this.pending();
    if (delays.length === 0) throw new Error('no timer is pending');
    await this.advance(delays[0] ?? 0);
  }

  #add(callback: () => void, delayMs: number, everyMs: number | undefined): Timer {
    const seq = ++this.#seq;
    this.#timers.set(seq, { seq, at: this.#monotonic + Math.max(0, delayMs), callback, everyMs });
    return { cancel: () => { this.#timers.delete(seq); } };
  }

  #moveTo(monotonic: number): void {
    this.#now += monotonic - this.#monotonic;
    this.#monotonic = monotonic;
  }
}

function order(a: Scheduled, b: Scheduled): number {
  return a.at - b.at || a.seq - b.seq;
}

/** Lets queued promise continuations (and ready I/O callbacks) run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
