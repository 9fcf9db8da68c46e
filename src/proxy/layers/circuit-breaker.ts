/**
 * Circuit breaking in Envoy's sense: concurrency limits per upstream service. At most
 * `circuitBreaker.maxConcurrent` requests are in flight; up to `maxPending` more wait in
 * FIFO order for a slot; beyond that a request is refused at once with CIRCUIT_OPEN
 * (never sent, so `reachedApp` is false). A waiting request whose signal aborts (client
 * gone, deadline) leaves the queue.
 *
 * A request holds its slot until its response body ends (or is destroyed), not just until
 * the response head, so that long downloads and streams count as in flight.
 */
import { finished } from 'node:stream';
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { CancelSignal } from '../cancel.js';
import { failed } from '../failure.js';
import type { Handler, Layer, Outcome, ProxyFailure, ProxyRequest, UpstreamPolicy } from '../types.js';
import { cancelledFailure } from './deadline.js';
import { Counters } from './stats.js';

export const CIRCUIT_COUNTERS = ['rejected', 'queued', 'cancelled'] as const;
export type CircuitCounter = (typeof CIRCUIT_COUNTERS)[number];

/** Per service: requests refused (CIRCUIT_OPEN), requests that had to wait, waits cut short by an abort. */
export function createCircuitStats(): Counters<CircuitCounter> {
  return new Counters(CIRCUIT_COUNTERS);
}

type Limits = UpstreamPolicy['circuitBreaker'];

/** What a CIRCUIT_OPEN carries in `error.details`. */
export type OverflowDetails = Limits & { readonly inFlight: number; readonly pending: number };

/** The concurrency state of one service. */
export class ConcurrencyLimit {
  #inFlight = 0;
  /** The limit of the latest request: a lowered limit takes effect as requests finish. */
  #maxConcurrent = Infinity;
  /** Waiting requests' wake-ups, oldest first (a Set keeps insertion order and deletes in O(1)). */
  readonly #waiting = new Set<() => void>();

  get inFlight(): number {
    return this.#inFlight;
  }

  get pending(): number {
    return this.#waiting.size;
  }

  /**
   * Take a slot: `true` at once, `false` when the queue is full too, or a promise that
   * resolves true when a slot is handed over and false when `signal` aborts first.
   */
  acquire(limits: Limits, signal: CancelSignal): boolean | Promise<boolean> {
    this.#maxConcurrent = limits.maxConcurrent;
    if (this.#inFlight < limits.maxConcurrent && this.#waiting.size === 0) {
      this.#inFlight += 1;
      return true;
    }
    if (this.#waiting.size >= limits.maxPending || signal.aborted) return false;
    return new Promise<boolean>((resolve) => {
      const wake = (): void => {
        signal.removeEventListener('abort', cancel);
        resolve(true);
      };
      const cancel = (): void => {
        this.#waiting.delete(wake);
        resolve(false);
      };
      this.#waiting.add(wake);
      signal.addEventListener('abort', cancel, { once: true });
    });
  }

  /** Give a slot back: to the oldest waiting request, or to the pool. */
  release(): void {
    if (this.#inFlight <= this.#maxConcurrent) {
      const first = this.#waiting.values().next();
      if (first.done !== true) {
        this.#waiting.delete(first.value);
        first.value(); // the slot passes over: in-flight stays the same
        return;
      }
    }
    this.#inFlight -= 1;
  }
}

export interface CircuitBreakerLayerOptions {
  readonly stats?: Counters<CircuitCounter>;
}

export function createCircuitBreakerLayer(options: CircuitBreakerLayerOptions = {}): Layer {
  const stats = options.stats ?? createCircuitStats();
  const limits = new Map<string, ConcurrencyLimit>();
  const limitFor = (service: string): ConcurrencyLimit => {
    let limit = limits.get(service);
    if (limit === undefined) limits.set(service, (limit = new ConcurrencyLimit()));
    return limit;
  };

  return (next) => (request) => {
    const { service, policy } = request.target;
    const limit = limitFor(service);
    const admitted = limit.acquire(policy.circuitBreaker, request.signal);
    if (admitted === true) return sendHoldingSlot(next, request, limit);
    if (admitted === false) {
      stats.add(service, 'rejected');
      return Promise.resolve(failed(overflow(service, policy.circuitBreaker, limit)));
    }
    stats.add(service, 'queued');
    return admitted.then((slot) => {
      if (slot) return sendHoldingSlot(next, request, limit);
      stats.add(service, 'cancelled');
      return failed(cancelledFailure(request, 'while it waited for a free slot'));
    });
  };
}

/** Send with a slot taken: it is given back when the response is done, or at once when `next` throws. */
function sendHoldingSlot(next: Handler, request: ProxyRequest, limit: ConcurrencyLimit): Promise<Outcome> {
  let pending: Promise<Outcome>;
  try {
    pending = next(request);
  } catch (err) {
    limit.release();
    return Promise.reject(err);
  }
  return pending.then((outcome) => {
    releaseWhenDone(outcome, limit);
    return outcome;
  }, (err: unknown) => {
    limit.release();
    throw err;
  });
}

/** Release when the response body has ended or was destroyed; at once when there is none or it all arrived. */
function releaseWhenDone(outcome: Outcome, limit: ConcurrencyLimit): void {
  if (!outcome.ok || outcome.response.wholeBody?.() !== undefined) {
    limit.release();
    return;
  }
  const body = outcome.response.body;
  if (body === null) {
    limit.release();
    return;
  }
  const cleanup = finished(body, () => {
    cleanup();
    limit.release();
  });
}

function overflow(service: string, limits: Limits, limit: ConcurrencyLimit): ProxyFailure {
  const details: OverflowDetails = { ...limits, inFlight: limit.inFlight, pending: limit.pending };
  const error = new TrellisError(
    ErrorCodes.CIRCUIT_OPEN,
    `${service} is at its concurrency limit: ${limit.inFlight} requests in flight (circuitBreaker.maxConcurrent ${limits.maxConcurrent}) and ${limit.pending} waiting (maxPending ${limits.maxPending}); this request was not sent`,
    { details },
  );
  return { error, reachedApp: false, endpoint: undefined };
}
