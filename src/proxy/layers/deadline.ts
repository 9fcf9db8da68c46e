/**
 * Running one attempt under a deadline — shared by the whole-request timeout and retry's
 * per-try timeout. The attempt gets a derived request whose signal follows the caller's
 * and also aborts when the deadline passes; downstream layers and the upstream watch that
 * signal and give up. The outcome is then UPSTREAM_TIMEOUT, keeping the endpoint and
 * whether the attempt was sent, as the aborted attempt reported them.
 *
 * A deadline covers the wait for the response head, like Linkerd's: once the head is
 * here the timer stops, so a long streamed body (a download, a gRPC stream) is not cut.
 */
import type { Endpoint } from '../../balancer/types.js';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { formatDuration } from '../../util/duration.js';
import { Cancellation, type CancelSignal } from '../cancel.js';
import { failed, proxyFailure } from '../failure.js';
import type { Handler, Outcome, ProxyFailure, ProxyRequest } from '../types.js';
import type { DeadlineEntry, DeadlineList, DeadlineQueue } from './deadline-queue.js';
import { discardOutcome, endpointOf } from './outcome.js';

/** Once its signal aborted, an attempt gets this long to settle before it is given up on. */
export const ABORT_GRACE_MS = 1_000;

export type DeadlineScope = 'request' | 'try';

/** What an UPSTREAM_TIMEOUT carries in `error.details`. */
export type TimeoutDetails = {
  /** `request`: the whole-request `timeout`; `try`: one attempt's `perTryTimeout`. */
  readonly scope: DeadlineScope;
  readonly timeoutMs: number;
};

export interface Deadline extends TimeoutDetails {
  /** Time left from now; ≤ 0 means already passed. */
  readonly remainingMs: number;
}

/** The error a deadline aborts its signal with, and the attempt ends with. */
export function timeoutError(service: string, { scope, timeoutMs }: TimeoutDetails): TrellisError {
  const what = scope === 'request' ? `its timeout of ${formatDuration(timeoutMs)}` : `the per-try timeout of ${formatDuration(timeoutMs)}`;
  return new TrellisError(ErrorCodes.UPSTREAM_TIMEOUT, `${service} did not answer within ${what}`, { details: { scope, timeoutMs } });
}

/**
 * The failure of a request whose signal aborted while a layer held it (waiting for a slot,
 * for a retry): the reason when it is ours (a deadline's error), else the client went away.
 */
export function cancelledFailure(request: ProxyRequest, during: string, endpoint?: Endpoint, reachedApp = false): ProxyFailure {
  const { reason } = request.signal;
  if (reason instanceof TrellisError) return { error: reason, reachedApp, endpoint };
  return proxyFailure(ErrorCodes.UPSTREAM_RESET, `the request to ${request.target.service} was cancelled ${during}: the client went away`, {
    reachedApp, endpoint, cause: reason,
  });
}

/**
 * A cancellation that aborts when `parent` does (with its reason) or when `abort` is
 * called. It is its own listener on the parent (no closure, no AbortController). `unlink`
 * stops following the parent; call it when nothing watches the signal any more (the
 * attempt failed), so that a request with several attempts does not pile up listeners.
 */
export class LinkedCancellation extends Cancellation {
  readonly #parent: CancelSignal;

  constructor(parent: CancelSignal) {
    super();
    this.#parent = parent;
    if (parent.aborted) this.abort(parent.reason);
    else parent.addEventListener('abort', this, { once: true });
  }

  /** The parent aborted. */
  handleEvent(): void {
    this.abort(this.#parent.reason);
  }

  unlink(): void {
    this.#parent.removeEventListener('abort', this);
  }
}

/**
 * The signal of one attempt under its per-try deadline: a {@link LinkedCancellation} that the
 * balance layer may also abort, to end the attempt early when its endpoint is ejected for
 * making no progress (./outlier-detector.ts) — the attempt, not the request: a retry follows.
 */
export class AttemptCancellation extends LinkedCancellation {}

/** {@link LinkedCancellation} as a signal and its two controls. */
export function linkSignal(parent: CancelSignal): { signal: CancelSignal; abort(reason: unknown): void; unlink(): void } {
  const link = new LinkedCancellation(parent);
  return { signal: link, abort: (reason) => link.abort(reason), unlink: () => link.unlink() };
}

/**
 * Run `next` for `request` so that it ends by the deadline, kept in `queue` (one timer per
 * duration, not per request: ./deadline-queue.ts). Handlers never throw for expected
 * failures; a handler that throws anyway propagates its exception.
 *
 * One promise and one small object per run: the outcome is worked out in the run's
 * settle callback.
 */
export function runWithDeadline(next: Handler, request: ProxyRequest, deadline: Deadline, queue: DeadlineQueue): Promise<Outcome> {
  const { service } = request.target;
  if (deadline.remainingMs <= 0) return Promise.resolve(failed({ error: timeoutError(service, deadline), reachedApp: false, endpoint: undefined }));
  const run = new DeadlineRun(request, deadline, queue);
  queue.add(run, deadline.timeoutMs, deadline.remainingMs);
  next({ ...request, signal: run.link }).then(run.settled, run.threw);
  return run.promise;
}

let capturedResolve: ((outcome: Outcome) => void) | undefined;
let capturedReject: ((err: unknown) => void) | undefined;
/** The one promise executor of every run (no closure per run). */
function capture(resolve: (outcome: Outcome) => void, reject: (err: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** One attempt under a deadline: an entry of the deadline queue. */
class DeadlineRun implements DeadlineEntry {
  deadline = 0;
  prev: DeadlineEntry | undefined = undefined;
  next: DeadlineEntry | undefined = undefined;
  list: DeadlineList | undefined = undefined;
  readonly link: LinkedCancellation;
  readonly promise: Promise<Outcome>;
  readonly #resolve: (outcome: Outcome) => void;
  readonly #reject: (err: unknown) => void;
  readonly #service: string;
  readonly #details: Deadline;
  readonly #queue: DeadlineQueue;
  #timedOut = false;
  #gaveUp = false;
  #grace: NodeJS.Timeout | undefined = undefined;

  constructor(request: ProxyRequest, details: Deadline, queue: DeadlineQueue) {
    this.link = details.scope === 'try' ? new AttemptCancellation(request.signal) : new LinkedCancellation(request.signal);
    this.promise = new Promise<Outcome>(capture);
    this.#resolve = capturedResolve as (outcome: Outcome) => void;
    this.#reject = capturedReject as (err: unknown) => void;
    this.#service = request.target.service;
    this.#details = details;
    this.#queue = queue;
  }

  /** The deadline passed: abort the attempt, which should settle at once; if it does not, stop waiting for it. */
  expire(): void {
    this.#timedOut = true;
    this.link.abort(timeoutError(this.#service, this.#details));
    this.#grace = setTimeout(() => {
      this.#gaveUp = true;
      this.#resolve(timedOutOutcome(this.link, this.#service, this.#details, undefined));
    }, ABORT_GRACE_MS);
  }

  readonly settled = (outcome: Outcome): void => {
    this.#queue.remove(this);
    if (this.#grace !== undefined) clearTimeout(this.#grace);
    // Settled after we stopped waiting: nobody will read it.
    if (this.#gaveUp) discardOutcome(outcome);
    else if (this.#timedOut) this.#resolve(timedOutOutcome(this.link, this.#service, this.#details, outcome));
    else {
      if (!outcome.ok) this.link.unlink();
      this.#resolve(outcome);
    }
  };

  readonly threw = (err: unknown): void => {
    this.#queue.remove(this);
    if (this.#grace !== undefined) clearTimeout(this.#grace);
    this.#reject(err);
  };
}

/** The answer once the deadline passed: `outcome` is what the aborted attempt settled with, undefined when we gave up waiting. */
function timedOutOutcome(link: LinkedCancellation, service: string, deadline: Deadline, outcome: Outcome | undefined): Outcome {
  link.unlink();
  if (outcome !== undefined) discardOutcome(outcome);
  // The attempt was sent when it answered, or when it failed after reaching the app; unknown
  // (gave up waiting) counts as sent, so that only idempotent requests are retried.
  const reachedApp = outcome === undefined || outcome.ok || outcome.failure.reachedApp;
  const error = link.reason instanceof TrellisError ? link.reason : timeoutError(service, deadline);
  return failed({ error, reachedApp, endpoint: outcome === undefined ? undefined : endpointOf(outcome) });
}
