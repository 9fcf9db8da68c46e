/**
 * Passive outlier detection, as in Envoy: each proxy watches the outcomes of its own
 * requests and ejects an endpoint that fails `consecutive5xx` times in a row, or fails
 * to connect `consecutiveConnectFailures` times in a row (2 by default: a killed replica
 * refuses connections, and should leave rotation at once). An attempt that timed out (no
 * response head within the per-try timeout) counts in that streak too, as Envoy's local-origin
 * failures do: a hung (SIGSTOPped) replica accepts connections but never answers, and leaves
 * rotation after 2 timeouts instead of 5.
 *
 * - No response progress: an endpoint with attempts in flight that has settled none of them
 *   (no response head, no failure) for `noProgressTimeoutMs` — or 4 × its usual latency, when
 *   that is longer — while another endpoint of the service did answer meanwhile, is ejected at
 *   once, without waiting for a timeout to end the attempts: a host that vanished (packets
 *   dropped, no RST), a partition, a SIGSTOPped app. The balance layer reports each attempt's
 *   start and end (`started`, `settled`); the check runs with `ejected()`, at most every
 *   {@link PROGRESS_CHECK_MS}. Its attempts in flight that run under a per-try deadline (given
 *   to `started` as abortable) are ended then with UPSTREAM_TIMEOUT rather than at their
 *   deadline: an idempotent request is retried elsewhere at once, a POST that may have reached
 *   the app fails fast instead of waiting out its per-try timeout; new requests go elsewhere.
 * - An ejection lasts `baseEjectionMs` × the endpoint's ejection count, at most
 *   `maxEjectionMs`; the count drops by one for each `baseEjectionMs` the endpoint then
 *   spends back in rotation, so a flapping endpoint stays out longer and longer while
 *   one that recovered starts over.
 * - At most `maxEjectionPercent` of the endpoints are ejected at once (at least one may
 *   be, when the share rounds down to zero) — and never all of them: an ejection that
 *   would leave nothing to send to is skipped, since a struggling endpoint is better
 *   than none.
 * - Endpoints return lazily: `ejected()` and `record()` compare the deadline with the
 *   clock, so there are no timers to clean up and tests drive time exactly.
 * - Endpoints leave with `setEndpoints`, and their state is forgotten.
 *
 * Thresholds of 0 turn that rule off (`noProgressTimeoutMs` 0 too); `maxEjectionPercent` 0 turns ejection off.
 */
import { ErrorCodes, TrellisError } from '../../errors.js';
import { DEFAULT_UPSTREAM_POLICY } from '../policy.js';
import type { UpstreamPolicy } from '../types.js';
import { Counters } from './stats.js';

export type OutlierSettings = UpstreamPolicy['outlierDetection'];

/** How often, at most, `ejected()` looks for endpoints that stopped making progress. */
export const PROGRESS_CHECK_MS = 50;
/** An endpoint's usual latency (its successes' moving average) times this is "no progress" too, when longer than the timeout. */
export const NO_PROGRESS_LATENCY_FACTOR = 4;
/** Weight of the newest success in the latency average. */
const LATENCY_EWMA_WEIGHT = 0.1;

/** How one attempt went, for outlier detection. */
export type OutlierResult = 'success' | 'http-5xx' | 'connect-failure' | 'reset' | 'timeout';

export interface OutlierEvent {
  readonly service: string;
  readonly endpointId: string;
  /** `overflow`: it would have been ejected, but the maximum ejected share was reached. */
  readonly kind: 'ejected' | 'returned' | 'overflow';
  /** For `ejected` and `overflow`: why, e.g. "2 consecutive connect failures". */
  readonly reason?: string;
  /** For `ejected`: how long. */
  readonly durationMs?: number;
}

export const OUTLIER_COUNTERS = ['ejections', 'overflow'] as const;
export type OutlierCounter = (typeof OUTLIER_COUNTERS)[number];

export interface OutlierDetectorOptions {
  /** Monotonic ms (default performance.now). */
  readonly now?: () => number;
  /** Told of every ejection, return and overflow — for logs. */
  readonly onEvent?: (event: OutlierEvent) => void;
  /** Per service: ejections made, ejections skipped for the maximum share. */
  readonly stats?: Counters<OutlierCounter>;
}

interface EndpointState {
  consecutive5xx: number;
  consecutiveConnectFailures: number;
  /** Whether a timeout is part of the current connect-failure streak (for the reason given). */
  timeoutInStreak: boolean;
  /** Ejection count for the back-off; decays while the endpoint stays in rotation. */
  ejections: number;
  /** When the current ejection ends; undefined while in rotation. */
  ejectedUntil: number | undefined;
  /** When the endpoint last came back (or was first seen). */
  returnedAt: number;
  /** Attempts sent to it and not settled yet (the balance layer's `started` / `settled`). */
  inFlight: number;
  /** Since when it has had attempts in flight and settled none: its last progress. */
  waitingSince: number;
  /** When an attempt to it last settled (-Infinity: never). */
  progressAt: number;
  /** Moving average of its successes' latency to the response head, ms (0: none yet). */
  latencyMs: number;
  /** Its attempts in flight that may be ended early (those under a per-try deadline). */
  readonly attempts: Set<Abortable>;
}

/** An attempt that can be ended early: its per-try signal (./deadline.ts's AttemptCancellation). */
export interface Abortable {
  abort(reason: unknown): void;
}

/** The most endpoints of `count` that may be out at once. */
export function maxEjected(count: number, maxEjectionPercent: number): number {
  if (maxEjectionPercent <= 0) return 0;
  return Math.min(count - 1, Math.max(1, Math.floor((count * maxEjectionPercent) / 100)));
}

/** Outlier detection for the endpoints of one service. */
export class OutlierDetector {
  readonly service: string;
  #settings: OutlierSettings;
  readonly #now: () => number;
  readonly #onEvent: (event: OutlierEvent) => void;
  readonly #stats: Counters<OutlierCounter> | undefined;
  readonly #endpoints = new Map<string, EndpointState>();
  readonly #ejected = new Set<string>();
  /** The earliest `ejectedUntil` among the ejected; Infinity when none is. */
  #nextReturn = Infinity;
  /** When the last no-progress check ran. */
  #checkedAt = -Infinity;

  constructor(service: string, settings: OutlierSettings, options: OutlierDetectorOptions = {}) {
    this.service = service;
    this.#settings = settings;
    this.#now = options.now ?? (() => performance.now());
    this.#onEvent = options.onEvent ?? (() => {});
    this.#stats = options.stats;
  }

  get settings(): OutlierSettings {
    return this.#settings;
  }

  /** Adopt new settings (a policy reload); current ejections keep their end time. */
  configure(settings: OutlierSettings): void {
    this.#settings = settings;
  }

  /**
   * The endpoints the balancer picks from (those the control plane reports healthy),
   * called whenever that set changes. Results for ids outside it are ignored; ids that
   * left are forgotten. If the set shrank so far that too many are ejected, those due
   * back first return now.
   */
  setEndpoints(ids: readonly string[]): void {
    const now = this.#now();
    const keep = new Set(ids);
    for (const id of this.#endpoints.keys()) {
      if (!keep.has(id)) {
        this.#endpoints.delete(id);
        this.#ejected.delete(id);
      }
    }
    for (const id of keep) {
      if (!this.#endpoints.has(id)) {
        this.#endpoints.set(id, {
          consecutive5xx: 0, consecutiveConnectFailures: 0, timeoutInStreak: false, ejections: 0, ejectedUntil: undefined, returnedAt: now,
          inFlight: 0, waitingSince: now, progressAt: -Infinity, latencyMs: 0, attempts: new Set(),
        });
      }
    }
    const allowed = maxEjected(this.#endpoints.size, this.#settings.maxEjectionPercent);
    while (this.#ejected.size > Math.max(0, allowed)) {
      const first = this.#dueFirst();
      if (first === undefined) break;
      this.#return(first, now);
    }
    this.#updateNextReturn();
  }

  /** The ids currently ejected. A live view: do not keep it across calls. */
  ejected(): ReadonlySet<string> {
    const now = this.#now();
    this.#sweep(now);
    if (now - this.#checkedAt >= PROGRESS_CHECK_MS) this.#checkProgress(now);
    return this.#ejected;
  }

  /** An attempt to `endpointId` was sent; `attempt`: it may be ended early, if the endpoint stops making progress. */
  started(endpointId: string, attempt?: Abortable): void {
    const state = this.#endpoints.get(endpointId);
    if (state === undefined) return;
    if (state.inFlight === 0) state.waitingSince = this.#now();
    state.inFlight += 1;
    if (attempt !== undefined) state.attempts.add(attempt);
  }

  /** An attempt to `endpointId` settled (a response head or a failure) after `latencyMs`; `success`: the endpoint is not blamed. */
  settled(endpointId: string, latencyMs: number, success: boolean, attempt?: Abortable): void {
    const state = this.#endpoints.get(endpointId);
    if (state === undefined) return;
    if (attempt !== undefined) state.attempts.delete(attempt);
    const now = this.#now();
    if (state.inFlight > 0) state.inFlight -= 1;
    state.waitingSince = now;
    state.progressAt = now;
    if (success) state.latencyMs = state.latencyMs === 0 ? latencyMs : state.latencyMs + LATENCY_EWMA_WEIGHT * (latencyMs - state.latencyMs);
  }

  /** Attempts in flight to `endpointId` (for tests and status pages). */
  inFlight(endpointId: string): number {
    return this.#endpoints.get(endpointId)?.inFlight ?? 0;
  }

  /** Count one attempt's result against its endpoint. */
  record(endpointId: string, result: OutlierResult): void {
    const state = this.#endpoints.get(endpointId);
    if (state === undefined) return;
    const now = this.#now();
    this.#sweep(now);
    // Answers from requests sent before the ejection say nothing new.
    if (state.ejectedUntil !== undefined) return;
    switch (result) {
      case 'success':
        state.consecutive5xx = 0;
        state.consecutiveConnectFailures = 0;
        state.timeoutInStreak = false;
        return;
      case 'http-5xx':
        // It answered: that streak ends.
        state.consecutive5xx += 1;
        state.consecutiveConnectFailures = 0;
        state.timeoutInStreak = false;
        break;
      case 'timeout':
      case 'connect-failure':
        // A silent endpoint is as absent as one refusing connections. Both count as gateway
        // failures too (Envoy, without split local-origin errors).
        if (result === 'timeout') state.timeoutInStreak = true;
        state.consecutive5xx += 1;
        state.consecutiveConnectFailures += 1;
        break;
      case 'reset':
        // The endpoint took the connection and then failed it.
        state.consecutive5xx += 1;
        break;
    }
    const { consecutive5xx, consecutiveConnectFailures } = this.#settings;
    if (consecutiveConnectFailures > 0 && state.consecutiveConnectFailures >= consecutiveConnectFailures) {
      this.#eject(endpointId, state, now, `${state.consecutiveConnectFailures} consecutive connect failures${state.timeoutInStreak ? ' or timeouts' : ''}`);
    } else if (consecutive5xx > 0 && state.consecutive5xx >= consecutive5xx) {
      this.#eject(endpointId, state, now, `${state.consecutive5xx} consecutive 5xx or gateway failures`);
    }
  }

  /** Ejections counted for the back-off of one endpoint (for tests and status pages). */
  ejectionCount(endpointId: string): number {
    return this.#endpoints.get(endpointId)?.ejections ?? 0;
  }

  #eject(id: string, state: EndpointState, now: number, reason: string): void {
    state.consecutive5xx = 0;
    state.consecutiveConnectFailures = 0;
    state.timeoutInStreak = false;
    const { baseEjectionMs, maxEjectionMs, maxEjectionPercent } = this.#settings;
    if (this.#ejected.size >= maxEjected(this.#endpoints.size, maxEjectionPercent)) {
      this.#stats?.add(this.service, 'overflow');
      this.#onEvent({ service: this.service, endpointId: id, kind: 'overflow', reason });
      return;
    }
    const healthyPeriods = Math.floor((now - state.returnedAt) / baseEjectionMs);
    state.ejections = Math.max(0, state.ejections - healthyPeriods) + 1;
    const durationMs = Math.min(baseEjectionMs * state.ejections, Math.max(baseEjectionMs, maxEjectionMs));
    state.ejectedUntil = now + durationMs;
    this.#ejected.add(id);
    this.#nextReturn = Math.min(this.#nextReturn, state.ejectedUntil);
    this.#stats?.add(this.service, 'ejections');
    this.#onEvent({ service: this.service, endpointId: id, kind: 'ejected', reason, durationMs });
  }

  /** Return every endpoint whose ejection has ended by `now`. */
  #sweep(now: number): void {
    if (now < this.#nextReturn) return;
    for (const id of this.#ejected) {
      const until = this.#endpoints.get(id)?.ejectedUntil;
      if (until === undefined || until <= now) this.#return(id, until ?? now);
    }
    this.#updateNextReturn();
  }

  /**
   * Eject the endpoints that have had attempts in flight and settled none for their bound while
   * another endpoint answered meanwhile (when every endpoint is silent, the service is slow, or
   * the caller's own network is down: nobody is an outlier).
   */
  #checkProgress(now: number): void {
    this.#checkedAt = now;
    const timeout = this.#settings.noProgressTimeoutMs;
    if (timeout <= 0) return;
    let latest = -Infinity;
    for (const state of this.#endpoints.values()) if (state.progressAt > latest) latest = state.progressAt;
    for (const [id, state] of this.#endpoints) {
      if (state.inFlight === 0 || state.ejectedUntil !== undefined) continue;
      const bound = Math.max(timeout, NO_PROGRESS_LATENCY_FACTOR * state.latencyMs);
      const silentMs = now - state.waitingSince;
      if (silentMs < bound || latest <= state.waitingSince) continue;
      const reason = `no response for ${Math.round(silentMs)} ms with ${state.inFlight} requests in flight, while other instances answered`;
      this.#eject(id, state, now, reason);
      if (state.ejectedUntil === undefined) {
        // The maximum ejected share kept it in (an overflow, said once per window): a new window.
        state.waitingSince = now;
        continue;
      }
      // Its attempts that can be ended are ended now (after this check: their endings run code of their own).
      const error = new TrellisError(ErrorCodes.UPSTREAM_TIMEOUT, `${this.service} instance ${id} was ejected for making no progress (${reason}): this attempt was ended`, {
        details: { scope: 'try', timeoutMs: Math.round(bound) },
      });
      const attempts = [...state.attempts];
      state.attempts.clear();
      if (attempts.length > 0) queueMicrotask(() => { for (const attempt of attempts) attempt.abort(error); });
    }
  }

  #return(id: string, at: number): void {
    this.#ejected.delete(id);
    const state = this.#endpoints.get(id);
    if (state !== undefined) {
      state.ejectedUntil = undefined;
      state.returnedAt = at;
      state.waitingSince = at;
    }
    this.#onEvent({ service: this.service, endpointId: id, kind: 'returned' });
  }

  #dueFirst(): string | undefined {
    let first: string | undefined;
    let firstUntil = Infinity;
    for (const id of this.#ejected) {
      const until = this.#endpoints.get(id)?.ejectedUntil ?? -Infinity;
      if (first === undefined || until < firstUntil) {
        first = id;
        firstUntil = until;
      }
    }
    return first;
  }

  #updateNextReturn(): void {
    let next = Infinity;
    for (const id of this.#ejected) next = Math.min(next, this.#endpoints.get(id)?.ejectedUntil ?? -Infinity);
    this.#nextReturn = next;
  }
}

export interface OutlierDetectorsOptions extends OutlierDetectorOptions {
  /** Settings of a detector first asked for without any (e.g. by the balancer); default: the policy defaults. */
  readonly defaults?: OutlierSettings;
}

/** One detector per service, created on first use. */
export class OutlierDetectors {
  readonly #detectors = new Map<string, OutlierDetector>();
  readonly #defaults: OutlierSettings;
  readonly #options: OutlierDetectorOptions;

  constructor(options: OutlierDetectorsOptions = {}) {
    this.#defaults = options.defaults ?? DEFAULT_UPSTREAM_POLICY.outlierDetection;
    this.#options = options;
  }

  /**
   * The detector of `service`. Given `settings` (the outlier layer passes the target's),
   * the detector adopts them.
   */
  for(service: string, settings?: OutlierSettings): OutlierDetector {
    let detector = this.#detectors.get(service);
    if (detector === undefined) {
      detector = new OutlierDetector(service, settings ?? this.#defaults, this.#options);
      this.#detectors.set(service, detector);
    } else if (settings !== undefined && settings !== detector.settings) {
      detector.configure(settings);
    }
    return detector;
  }

  /** Forget a service that is no longer called. */
  delete(service: string): void {
    this.#detectors.delete(service);
  }
}
