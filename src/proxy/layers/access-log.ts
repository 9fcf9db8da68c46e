/**
 * The access-log sink of the observation layer (observe.ts): one JSON line per request,
 * written when the response head is known, in pino's line format (level 30 = info, epoch
 * ms `time`) so pino's tools read it:
 *
 *   {"level":30,"time":…,"direction":"outbound","requestId":"…","traceId":"…","spanId":"…",
 *    "method":"GET","path":"/orders/7","authority":"orders","service":"orders","route":"get-order",
 *    "peer":"web","clientId":"","status":200,"classification":"success","error":"","durationMs":1.2,
 *    "bytes":13,"upstream":"127.0.0.1:41234","endpointId":"orders-1"}
 *
 * The line is one JSON.stringify of a flat object of fixed shape (profiled: about half the
 * CPU of pino's `logger.info(object)`, which walks the object's keys and escapes each value
 * itself — docs/observability.md, "Cost"), handed to the log's buffer (src/telemetry/access-log.ts).
 */
import type { AccessLog } from '../../telemetry/access-log.js';
import type { Outcome } from '../types.js';
import type { RequestSink } from './observe.js';
import { endpointOf } from './outcome.js';
import { spanIdOf, traceIdOf } from './propagate.js';

/** The response body's size when its head declares it (content-length), else null (streamed). */
function declaredBytes(outcome: Outcome): number | null {
  if (!outcome.ok) return null;
  const { response } = outcome;
  const length = response.headers['content-length'];
  if (typeof length !== 'string') {
    // An HTTP/1 upstream response (the one kind with wholeBody) always has a body stream, and
    // reading `body` would make it: that would take the response off the writer's whole-body
    // path (upstream/response.ts). Other responses say "no body" with a null body.
    return response.wholeBody === undefined && response.body === null ? 0 : null;
  }
  const bytes = Number(length);
  return Number.isSafeInteger(bytes) && bytes >= 0 ? bytes : null;
}

export function accessLogSink(log: AccessLog): RequestSink {
  return (r) => {
    const { request, outcome } = r;
    const endpoint = endpointOf(outcome);
    const host = request.headers['host'];
    log.write(`${JSON.stringify({
      level: 30,
      time: Date.now(),
      direction: r.direction,
      requestId: request.id,
      traceId: traceIdOf(request),
      spanId: spanIdOf(request),
      method: request.method,
      path: request.path,
      authority: typeof host === 'string' ? host : '',
      service: request.target.service,
      route: r.route,
      peer: r.src,
      clientId: r.clientId,
      status: r.status,
      classification: r.classification,
      error: r.error,
      durationMs: Math.round(r.latencyMs * 1000) / 1000,
      bytes: declaredBytes(outcome),
      upstream: endpoint === undefined ? null : `${endpoint.address}:${endpoint.port}`,
      endpointId: endpoint?.id ?? null,
    })}\n`);
  };
}
