/**
 * The span-export sink of the observation layer (observe.ts): each sampled hop is recorded as
 * one flat {@link HopSpan} for src/telemetry/otlp.ts, which makes the span (and its attributes)
 * later, in batches off the request path — its trace id, this hop's span id and the span it
 * came from (the parent the propagation layer noted, see {@link ParentSpans}), the request's
 * arrival to its response head, the method, path, status, route, peer, caller identity and
 * endpoint. Unsampled hops (flags without bit 0: the caller's decision, or the sampler's for a
 * trace this hop started) cost one flag test. Never a body or a header's value besides the
 * authority.
 */
import type { SpanExport } from '../../telemetry/otlp.js';
import { isSampled } from '../../telemetry/trace-context.js';
import type { ProxyRequest } from '../types.js';
import type { RequestSink } from './observe.js';
import { endpointOf } from './outcome.js';
import { spanIdOf, traceIdOf } from './propagate.js';

/** The incoming parent span id of each request (absent: this hop started the trace), written by the propagation layer. */
export type ParentSpans = WeakMap<ProxyRequest, string>;

export function traceExportSink(exporter: SpanExport, parents: ParentSpans): RequestSink {
  return (r) => {
    const { request } = r;
    const traceparent = request.headers['traceparent'];
    if (typeof traceparent !== 'string' || !isSampled(traceparent)) return;
    const endpoint = endpointOf(r.outcome);
    const host = request.headers['host'];
    exporter.record({
      traceId: traceIdOf(request),
      spanId: spanIdOf(request),
      parentSpanId: parents.get(request),
      direction: r.direction,
      startMs: performance.timeOrigin + request.startedAt,
      durationMs: r.latencyMs,
      error: r.classification === 'failure',
      errorCode: r.error,
      method: request.method,
      path: request.path,
      status: r.status,
      authority: typeof host === 'string' ? host : request.target.service,
      service: request.target.service,
      route: r.route,
      peer: r.src,
      clientId: r.clientId,
      requestId: request.id,
      endpoint,
    });
  };
}
