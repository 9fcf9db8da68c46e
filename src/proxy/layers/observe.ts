/**
 * The observation layer (after propagation, outermost): when a request's outcome is known
 * it works out, once, what the metrics and the access log both need — direction, peer,
 * caller identity, route, status, verdict, error code, latency — and hands that one record
 * to each sink (src/proxy/layers/metrics.ts, access-log.ts). One promise continuation per
 * request whatever the sinks; no closures made per request besides it.
 *
 * The status and verdict are classify.ts's for a response, or for an answer the proxy makes
 * itself the status rescue.ts will give it (the error's) and `failure`. Outbound the layer
 * sits outside the retry layer, so a request counts once however many attempts it took.
 */
import type { SidecarRoutes } from '../../telemetry/routes.js';
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
  readonly classification: Classification;
  /** The trellis-error code of an answer the proxy made, else ''. */
  readonly error: string;
  /** From the request's arrival to its response head. */
  readonly latencyMs: number;
}

export type RequestSink = (record: RequestRecord) => void;

export function createObserveLayer(sinks: readonly RequestSink[], localService: string, routes: SidecarRoutes): Layer {
  const observe = (request: ProxyRequest, outcome: Outcome): Outcome => {
    const { direction, service } = request.target;
    const inbound = direction === 'inbound';
    const record: RequestRecord = {
      request,
      outcome,
      direction,
      src: inbound ? callerOf(request) : localService,
      clientId: inbound ? request.peer?.spiffeId ?? '' : '',
      route: (inbound ? routes.inbound : routes.outbound(service)).match(request.method, request.path),
      status: outcome.ok ? outcome.response.status : outcome.failure.error.status,
      classification: outcome.ok ? outcome.classification : 'failure',
      error: outcome.ok ? '' : outcome.failure.error.code,
      latencyMs: performance.now() - request.startedAt,
    };
    for (const sink of sinks) sink(record);
    return outcome;
  };
  return (next) => (request) => next(request).then((outcome) => observe(request, outcome));
}
