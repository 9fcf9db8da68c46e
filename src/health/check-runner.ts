/**
 * Runs one active check on a schedule and turns its probe results into a reported
 * status, damping flaps with Consul-style consecutive-result thresholds.
 */
import { systemClock, type Clock, type Timer } from '../core/clock.js';
import { ErrorCodes, TrellisError } from '../errors.js';
import { probeFor } from './checks/registry.js';
import { capOutput, describeError } from './checks/support.js';
import type { ActiveCheckSpec, CheckTarget, Probe, ProbeResult } from './checks/types.js';
import type { HealthStatus } from '../core/health.js';

/** Intervals below this are raised to it unless {@link CheckRunnerOptions.minIntervalMs} says otherwise. */
export const DEFAULT_MIN_INTERVAL_MS = 100;

export interface CheckRunnerOptions {
  spec: ActiveCheckSpec;
  target: CheckTarget;
  /** Called when the reported status changes, with the probe result that changed it. */
  onChange: (status: HealthStatus, result: ProbeResult) => void;
  /** Called after every probe, before any `onChange` it causes (for metrics). */
  onResult?: (result: ProbeResult, durationMs: number) => void;
  /** Floor for the check interval, protecting the control plane from tight loops (default 100 ms). */
  minIntervalMs?: number;
  /** Source of the first run's jitter, in [0, 1) (default `Math.random`). */
  random?: () => number;
  /** The probe to run (default: the spec kind's probe from the registry). */
  probe?: Probe;
  /** Schedules probes, times their deadlines and durations (default: the real clock). */
  clock?: Clock;
}

/**
 * Consul's flap damping: the reported status becomes non-passing only after
 * `failuresBeforeCritical` consecutive non-passing results, and passing only after
 * `successesBeforePassing` consecutive passing results. A `warning` result counts as a
 * failure; when it is the one crossing the threshold, the reported status is `warning`.
 * Thresholds below 1 act as 1.
 */
export class StatusThreshold {
  #status: HealthStatus;
  #successes = 0;
  #failures = 0;
  readonly #failuresBeforeCritical: number;
  readonly #successesBeforePassing: number;

  constructor(
    initialStatus: HealthStatus,
    thresholds: Pick<ActiveCheckSpec, 'failuresBeforeCritical' | 'successesBeforePassing'>,
  ) {
    this.#status = initialStatus;
    this.#failuresBeforeCritical = Math.max(1, thresholds.failuresBeforeCritical);
    this.#successesBeforePassing = Math.max(1, thresholds.successesBeforePassing);
  }

  /** The reported status. */
  get status(): HealthStatus {
    return this.#status;
  }

  /** Records one probe verdict; returns true when it changed the reported status. */
  record(verdict: HealthStatus): boolean {
    let crossed: boolean;
    if (verdict === 'passing') {
      this.#failures = 0;
      this.#successes += 1;
      crossed = this.#successes >= this.#successesBeforePassing;
    } else {
      this.#successes = 0;
      this.#failures += 1;
      crossed = this.#failures >= this.#failuresBeforeCritical;
    }
    if (!crossed || verdict === this.#status) return false;
    this.#status = verdict;
    return true;
  }
}

/**
 * Runs one check: the first probe after a random jitter in [0, interval), then one probe
 * per interval, measured start to start. Runs never overlap: a probe slower than the
 * interval delays the next one until it finishes. Timers run on the runner's clock and are
 * unref'd, so a runner never keeps the process alive.
 *
 * Callbacks run synchronously after a probe; an exception from one is not caught (it
 * surfaces as an unhandled rejection) but does not stop the schedule.
 */
export class CheckRunner {
  /** The effective interval: the spec's, raised to the minimum interval. */
  readonly intervalMs: number;
  readonly #target: CheckTarget;
  readonly #probe: Probe;
  readonly #threshold: StatusThreshold;
  readonly #onChange: CheckRunnerOptions['onChange'];
  readonly #onResult: CheckRunnerOptions['onResult'];
  readonly #random: () => number;
  readonly #clock: Clock;
  readonly #abort = new AbortController();
  #state: 'idle' | 'running' | 'stopped' = 'idle';
  #timer: Timer | undefined;

  constructor(options: CheckRunnerOptions) {
    const minIntervalMs = options.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS;
    if (!Number.isFinite(minIntervalMs) || minIntervalMs < 1) {
      throw new TrellisError(ErrorCodes.VALIDATION, `minIntervalMs must be a finite number of at least 1 ms, got ${minIntervalMs}`, { field: 'minIntervalMs' });
    }
    const { spec } = options;
    this.intervalMs = Math.max(spec.intervalMs, minIntervalMs);
    this.#target = options.target;
    this.#clock = options.clock ?? systemClock;
    this.#probe = options.probe ?? probeFor(spec, this.#clock);
    this.#threshold = new StatusThreshold(spec.initialStatus, spec);
    this.#onChange = options.onChange;
    this.#onResult = options.onResult;
    this.#random = options.random ?? Math.random;
  }

  /** The reported status (the spec's initialStatus until a threshold is crossed). */
  get status(): HealthStatus {
    return this.#threshold.status;
  }

  /**
   * Starts probing. Calling it again while running does nothing; a stopped runner cannot
   * be restarted (create a new one).
   */
  start(): void {
    if (this.#state === 'running') return;
    if (this.#state === 'stopped') {
      throw new TrellisError(ErrorCodes.INTERNAL, 'a stopped CheckRunner cannot be restarted; create a new one');
    }
    this.#state = 'running';
    this.#schedule(this.#firstDelayMs());
  }

  /** Stops probing and aborts a probe in flight. Idempotent; no callback runs afterwards. */
  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#abort.abort();
  }

  /** The jitter before the first probe: `random()` scaled to [0, interval), clamped into that range. */
  #firstDelayMs(): number {
    const fraction = Math.min(Math.max(this.#random(), 0), 1);
    return Math.min(Math.floor(fraction * this.intervalMs), this.intervalMs - 1);
  }

  #isStopped(): boolean {
    return this.#state === 'stopped';
  }

  #schedule(delayMs: number): void {
    this.#timer = this.#clock.setTimeout(() => void this.#run(), delayMs);
  }

  async #run(): Promise<void> {
    const startedAt = this.#clock.monotonic();
    const result = await this.#probe(this.#target, this.#abort.signal).catch(
      // A probe must not reject; if one does anyway, it is a critical result, not a crash.
      (err: unknown): ProbeResult => ({ status: 'critical', output: capOutput(`probe failed: ${describeError(err)}`) }),
    );
    if (this.#isStopped()) return;
    const durationMs = this.#clock.monotonic() - startedAt;
    this.#schedule(Math.max(0, this.intervalMs - durationMs));

    const changed = this.#threshold.record(result.status);
    this.#onResult?.(result, durationMs);
    // onResult may have stopped the runner.
    if (changed && !this.#isStopped()) this.#onChange(this.#threshold.status, result);
  }
}
