/**
 * Context propagation, the outermost layer on both directions: each sidecar hop is a span
 * of the request's trace. The W3C `traceparent` keeps its trace id and gets this hop's span
 * id (a trace is started when the client sent none, or an invalid one); B3 headers, when
 * the client uses them, are carried the same way (src/telemetry/trace-context.ts).
 *
 * Outbound, the sidecar also names its service in {@link CALLER_HEADER}, so that the
 * inbound sidecar can label its metrics and access logs with the caller until mutual TLS
 * gives it an authenticated identity (`request.peer`), which then takes precedence.
 */
import { formatTraceparent, nextB3, nextHop } from '../../telemetry/trace-context.js';
import type { Layer, ProxyRequest } from '../types.js';

/** Set by an outbound sidecar: the calling service (a hint; `request.peer` is the proof). */
export const CALLER_HEADER = 'trellis-caller';

/**
 * `parents`: given when spans are exported (src/proxy/layers/trace-export.ts), the incoming
 * parent span id of each sampled request is noted there (nothing when this hop starts the trace).
 * `sampleRatio`: the share of the traces this hop starts that are sampled (`telemetry.otlp.sampleRatio`;
 * 1 without export: the apps downstream decide); an incoming traceparent's flags are kept.
 */
export function createPropagationLayer(localService: string, parents?: WeakMap<ProxyRequest, string>, sampleRatio = 1): Layer {
  return (next) => (request) => {
    // The header record is the request's own, made for it at the edge (http1/headers.ts,
    // http2/headers.ts), and this layer runs once per request, before any retry: it is
    // updated in place rather than copied with the request (≈ 2% of a hop's CPU, 2 KB).
    const headers = request.headers as Record<string, string | string[]>;
    const b3 = nextB3(headers);
    const hop = nextHop(headers['traceparent'], sampleRatio);
    headers['traceparent'] = formatTraceparent(hop);
    // Only a sampled hop is exported: an unsampled one costs no entry (nor the GC's ephemeron work).
    if (parents !== undefined && hop.parentId !== undefined && (Number.parseInt(hop.flags, 16) & 1) === 1) parents.set(request, hop.parentId);
    if (b3 !== undefined) Object.assign(headers, b3);
    if (request.target.direction === 'outbound') headers[CALLER_HEADER] = localService;
    return next(request);
  };
}

/** The calling service of an inbound request: its mTLS identity, else the caller header, else ''. */
export function callerOf(request: ProxyRequest): string {
  if (request.peer !== undefined) return request.peer.service;
  const header = request.headers[CALLER_HEADER];
  return typeof header === 'string' && /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(header) ? header : '';
}

/** The trace id of a request that went through the propagation layer. */
export function traceIdOf(request: ProxyRequest): string {
  const value = request.headers['traceparent'];
  return typeof value === 'string' ? value.slice(3, 35) : '';
}

/** This hop's span id (the parent id it sends on). */
export function spanIdOf(request: ProxyRequest): string {
  const value = request.headers['traceparent'];
  return typeof value === 'string' ? value.slice(36, 52) : '';
}
