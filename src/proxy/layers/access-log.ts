/**
 * The access-log sink of the observation layer (observe.ts): one JSON line per request,
 * made at the end of the event-loop turn in which its response head was known (observe.ts
 * batches), in pino's line format (level 30 = info, epoch
 * ms `time`) so pino's tools read it:
 *
 *   {"level":30,"time":…,"direction":"outbound","requestId":"…","traceId":"…","spanId":"…",
 *    "method":"GET","path":"/orders/7","authority":"orders","service":"orders","route":"get-order",
 *    "peer":"web","clientId":"","status":200,"classification":"success","error":"","durationMs":1.2,
 *    "bytes":13,"upstream":"127.0.0.1:41234","endpointId":"orders-1"}
 *
 * The line is a flat object of fixed shape, written by a template when its strings need no
 * escaping (one check for all of them), else by JSON.stringify — the same text either way, at
 * about half JSON.stringify's CPU (itself about half of pino's `logger.info(object)`, which walks
 * the object's keys and escapes each value itself — docs/observability.md, "Cost"); it is handed
 * to the log's buffer (src/telemetry/access-log.ts).
 */
import type { AccessLog } from '../../telemetry/access-log.js';
import type { Outcome } from '../types.js';
import type { RequestRecord, RequestSink } from './observe.js';
import { endpointOf } from './outcome.js';
import { spanIdOf, traceIdOf } from './propagate.js';

/**
 * The response body's size: what its head declares (content-length), else — a body that
 * arrived whole with its head (the usual small chunked response) — the bytes held, else null:
 * a streamed body of unknown length (the line is written at the response head, not its end).
 */
function responseBytes(outcome: Outcome): number | null {
  if (!outcome.ok) return null;
  const { response } = outcome;
  const length = response.headers['content-length'];
  if (typeof length === 'string') {
    const bytes = Number(length);
    return Number.isSafeInteger(bytes) && bytes >= 0 ? bytes : null;
  }
  if (response.wholeBody === undefined) {
    // Reading `body` of an HTTP/1 upstream response (the one kind with wholeBody) would make its
    // stream and take it off the writer's whole-body path (upstream/response.ts); other kinds say
    // "no body" with a null body.
    return response.body === null ? 0 : null;
  }
  const whole = response.wholeBody();
  if (whole === undefined) return null;
  let bytes = 0;
  for (const chunk of whole) bytes += chunk.length;
  return bytes;
}

/** The fields of a line, in their order. */
interface AccessLine {
  level: 30;
  time: number;
  direction: string;
  requestId: string;
  traceId: string;
  spanId: string;
  method: string;
  path: string;
  authority: string;
  service: string;
  route: string;
  peer: string;
  clientId: string;
  status: number;
  classification: string;
  error: string;
  durationMs: number;
  bytes: number | null;
  upstream: string | null;
  endpointId: string | null;
}

/**
 * A character that JSON.stringify would write otherwise than as itself inside quotes (quote,
 * backslash, control characters, lone surrogates), or any non-ASCII one: a line holding one is
 * made by JSON.stringify; the others by the template below, which writes the same bytes.
 */
const NOT_PLAIN = /[^\x20-\x21\x23-\x5b\x5d-\x7e]/;

/**
 * One line, as JSON.stringify(line) would write it. Every string field that is not one of our
 * own constants (direction, classification, error code) is checked at once, as one string: a
 * single regular-expression test instead of JSON.stringify's per-field escaping — half the CPU.
 */
export function formatAccessLine(l: AccessLine): string {
  if (NOT_PLAIN.test(l.requestId + l.traceId + l.spanId + l.method + l.path + l.authority + l.service + l.route + l.peer + l.clientId + (l.upstream ?? '') + (l.endpointId ?? ''))
    || !Number.isFinite(l.durationMs)) {
    return JSON.stringify(l);
  }
  return `{"level":30,"time":${l.time},"direction":"${l.direction}","requestId":"${l.requestId}","traceId":"${l.traceId}","spanId":"${l.spanId}",`
    + `"method":"${l.method}","path":"${l.path}","authority":"${l.authority}","service":"${l.service}","route":"${l.route}","peer":"${l.peer}",`
    + `"clientId":"${l.clientId}","status":${l.status},"classification":"${l.classification}","error":"${l.error}","durationMs":${l.durationMs},`
    + `"bytes":${l.bytes},"upstream":${l.upstream === null ? 'null' : `"${l.upstream}"`},"endpointId":${l.endpointId === null ? 'null' : `"${l.endpointId}"`}}`;
}

export function accessLogSink(log: AccessLog): RequestSink {
  return (r) => log.write(formatAccessLine(lineOf(r, Date.now())));
}

function lineOf(r: RequestRecord, time: number): AccessLine {
  const { request, outcome } = r;
  const endpoint = endpointOf(outcome);
  const host = request.headers['host'];
  return {
    level: 30,
    time,
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
    bytes: responseBytes(outcome),
    upstream: endpoint === undefined ? null : `${endpoint.address}:${endpoint.port}`,
    endpointId: endpoint?.id ?? null,
  };
}
