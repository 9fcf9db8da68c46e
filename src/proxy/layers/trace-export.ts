/**
 * The span-export sink of the observation layer (observe.ts): each sampled hop becomes one
 * span (src/telemetry/otlp.ts) — its trace id, this hop's span id and the span it came from
 * (the parent the propagation layer noted, see {@link ParentSpans}), the request's arrival to
 * its response head, the method, path, status, route, peer, caller identity and endpoint.
 * Inbound hops are SERVER spans, outbound CLIENT spans. Never a body or a header's value
 * besides the authority.
 */
import type { HopSpan, SpanExport } from '../../telemetry/otlp.js';
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
    // Unsampled traces (flags without bit 0) are propagated, not exported.
    if (typeof traceparent !== 'string' || (Number.parseInt(traceparent.slice(53, 55), 16) & 1) === 0) return;
    const endpoint = endpointOf(r.outcome);
    const host = request.headers['host'];
    const query = request.path.indexOf('?');
    const attributes: Record<string, string | number> = {
      'http.request.method': request.method,
      'url.path': query < 0 ? request.path : request.path.slice(0, query),
      'http.response.status_code': r.status,
      'server.address': typeof host === 'string' ? host : request.target.service,
      'trellis.direction': r.direction,
      'trellis.service': request.target.service,
      'trellis.route': r.route,
      'trellis.peer': r.src,
      'trellis.request_id': request.id,
    };
    if (r.route !== '[default]') attributes['http.route'] = r.route;
    if (r.clientId !== '') attributes['trellis.client_id'] = r.clientId;
    if (r.error !== '') attributes['trellis.error'] = r.error;
    if (endpoint !== undefined) {
      attributes['trellis.endpoint'] = endpoint.id;
      attributes['network.peer.address'] = endpoint.address;
      attributes['network.peer.port'] = endpoint.port;
    }
    const span: HopSpan = {
      traceId: traceIdOf(request),
      spanId: spanIdOf(request),
      parentSpanId: parents.get(request),
      name: r.route === '[default]' ? request.method : `${request.method} ${r.route}`,
      kind: r.direction === 'inbound' ? 'server' : 'client',
      startMs: performance.timeOrigin + request.startedAt,
      durationMs: r.latencyMs,
      error: r.classification === 'failure',
      errorCode: r.error,
      attributes,
    };
    exporter.record(span);
  };
}
