/**
 * The observation layer (after propagation, outermost): when a request's outcome is known
 * it notes its latency, and then (batched, see createObserveLayer) works out, once, what the
 * metrics and the access log both need — direction, peer,
 * caller identity, route, status, verdict, error code, latency — and hands that one record
 * to each sink (src/proxy/layers/metrics.ts, access-log.ts). One promise continuation per
 * request whatever the sinks; no closures made per request besides it.
 *
 * The status is the response's, or for an answer the proxy makes itself the one rescue.ts will
 * give it (the error's); the verdict is classify.ts's (the one retry and outlier detection
 * read), and `classification` (the metrics' success | failure) is derived from it. Outbound the layer
 * sits outside the retry layer, so a request counts once however many attempts it took.
 */
import type { SidecarRoutes } from '../../telemetry/routes.js';
import { classificationOf, verdictOf, type Verdict } from '../classify.js';
import type { Classification, Direction, Layer, Outcome, ProxyRequest } from '../types.js';
import { callerOf } from './propagate.js';

/** One finished request, as the sinks read it. */
export interface RequestRecord {
  readonly request: ProxyRequest;
  readonly outcome: Outcome;
  readonly direction: Direction;
  /** Inbound: the calling service ('' when unknown); outbound: this sidecar's service. */
  readonly src: string;
  /** The caller's SPIFFE ID (inbound, under mTLS), else ''. */
  readonly clientId: string;
  /** The declared route it matched, or [default] (src/telemetry/routes.ts). */
  readonly route: string;
  readonly status: number;
  /** The one verdict (class, blame, retryable). */
  readonly verdict: Verdict;
  /** success | failure, from the verdict. */
  readonly classification: Classification;
  /** The trellis-error code of an answer the proxy made, else ''. */
  readonly error: string;
  /** From the request's arrival to its response head. */
  readonly latencyMs: number;
}

export type RequestSink = (record: RequestRecord) => void;

/** The observation layer, and what readers of the sinks call first: see {@link createObserveLayer}. */
export interface ObserveLayer {
  readonly layer: Layer;
  /** Hand the finished requests still queued to the sinks now (before metrics are read, or the access log closes). */
  flush(): void;
}

/** Requests queued beyond this are handed to the sinks at once rather than at the end of the event-loop turn. */
const MAX_QUEUED = 1_024;

/**
 * As a request finishes, only its latency is taken; the record is made and handed to the sinks
 * for all the requests that finished in one event-loop turn together, at its end (setImmediate).
 * Run as a batch, the sinks' code and data stay in the CPU's caches; run between two requests'
 * socket work, they found them cold and cost several times their in-process figure (measured at
 * saturation: BENCHMARKS.md, Observability). Whoever reads what the sinks keep — /metrics, the
 * report to the control plane — calls {@link ObserveLayer.flush} first, so no count is ever behind.
 */
export function createObserveLayer(sinks: readonly RequestSink[], localService: string, routes: SidecarRoutes, onSinkError: (err: unknown) => void): ObserveLayer {
  let requests: ProxyRequest[] = [];
  let outcomes: Outcome[] = [];
  let latencies: number[] = [];
  let verdicts: Verdict[] = [];
  let scheduled = false;

  const record = (request: ProxyRequest, outcome: Outcome, latencyMs: number, verdict: Verdict): RequestRecord => {
    const { direction, service } = request.target;
    const inbound = direction === 'inbound';
    return {
      request,
      outcome,
      direction,
      src: inbound ? callerOf(request) : localService,
      clientId: inbound ? request.peer?.spiffeId ?? '' : '',
      route: (inbound ? routes.inbound : routes.outbound(service)).match(request.method, request.path),
      status: outcome.ok ? outcome.response.status : outcome.failure.status ?? outcome.failure.error.status,
      verdict,
      classification: classificationOf(verdict),
      error: outcome.ok ? '' : outcome.failure.error.code,
      latencyMs,
    };
  };

  const flush = (): void => {
    scheduled = false;
    if (requests.length === 0) return;
    const [batch, results, times, judged] = [requests, outcomes, latencies, verdicts];
    requests = [];
    outcomes = [];
    latencies = [];
    verdicts = [];
    for (let i = 0; i < batch.length; i++) {
      const r = record(batch[i], results[i], times[i], judged[i]);
      for (const sink of sinks) {
        // Outside any request's promise now: a throwing sink (a log whose file was closed under it) must not end the process.
        try { sink(r); } catch (err) { onSinkError(err); }
      }
    }
  };

  const observe = (request: ProxyRequest, outcome: Outcome): Outcome => {
    requests.push(request);
    outcomes.push(outcome);
    latencies.push(performance.now() - request.startedAt);
    // Judged now, not at the flush: by then the client may have gone, which is not what happened to this request.
    verdicts.push(verdictOf(request, outcome));
    if (requests.length >= MAX_QUEUED) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
    return outcome;
  };
  return {
    layer: (next) => (request) => next(request).then((outcome) => observe(request, outcome)),
    flush,
  };
}
