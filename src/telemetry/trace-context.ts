/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): `traceparent` is
 * `00-<trace-id 32 hex>-<parent-id 16 hex>-<flags 2 hex>`. Each sidecar hop is a span: it
 * keeps the trace id and the flags, and sends its own span id as the parent id. A missing or
 * malformed traceparent starts a new trace, as the spec asks, sampled by trace-id ratio
 * (OpenTelemetry's ParentBased(TraceIdRatioBased): see {@link nextHop}); `tracestate` is passed
 * through untouched. B3 single and multi headers, when present, get the same treatment
 * (Zipkin's propagation: same trace id, this hop's span id, the previous span as parent).
 */
import { randomBytes } from 'node:crypto';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** Random ids come from a pooled buffer: one crypto call per 512 ids, not one per request. */
const POOL_IDS = 512;
let pool = Buffer.alloc(0);
let poolAt = 0;

function randomHex(bytes: 8 | 16): string {
  if (poolAt + bytes > pool.length) {
    pool = randomBytes(16 * POOL_IDS);
    poolAt = 0;
  }
  const hex = pool.toString('hex', poolAt, poolAt + bytes);
  poolAt += bytes;
  return hex;
}

export function newSpanId(): string {
  return randomHex(8);
}

export function newTraceId(): string {
  return randomHex(16);
}

export interface TraceContext {
  readonly traceId: string;
  /** The span of the hop that sent the request (absent when this hop started the trace). */
  readonly parentId: string | undefined;
  /** This hop's span. */
  readonly spanId: string;
  readonly flags: string;
}

/** Parse an incoming traceparent; undefined when absent or invalid (the spec's "restart the trace"). */
export function parseTraceparent(value: string | readonly string[] | undefined): { traceId: string; parentId: string; flags: string } | undefined {
  if (typeof value !== 'string') return undefined;
  const match = TRACEPARENT.exec(value.trim().toLowerCase());
  if (match === null) return undefined;
  const [, version, traceId, parentId, flags] = match as unknown as [string, string, string, string, string];
  if (version === 'ff' || traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined;
  // Version 00 must have nothing after the flags; later versions may (we speak 00 onwards).
  if (version === '00' && value.trim().length !== 55) return undefined;
  return { traceId, parentId, flags };
}

/** 2^52: the sampler reads the top 52 of the trace id's lowest 56 bits (a double holds 53 exactly). */
const SCALE = 2 ** 52;

/**
 * OpenTelemetry's TraceIdRatioBased sampler (the spec's consistent-probability form, as W3C
 * Trace Context level 2 defines the randomness): a trace is sampled when the randomness R — the
 * trace id's lowest 56 bits — is at least the threshold (1 - ratio) · 2^56. The decision is a
 * function of the trace id alone, so every sidecar (and any OpenTelemetry SDK) given the same
 * ratio decides the same way; ratio 1 samples all, 0 none.
 */
export function traceIdRatioSampled(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  return Number.parseInt(traceId.slice(18, 31), 16) >= (1 - ratio) * SCALE;
}

/**
 * This hop's trace context: continue the incoming trace with a new span, keeping its flags
 * (its sampled bit is the caller's decision: ParentBased), or start one, sampled when
 * {@link traceIdRatioSampled} says so for `sampleRatio` (flags 01, else 00).
 */
export function nextHop(incoming: string | readonly string[] | undefined, sampleRatio = 1): TraceContext {
  const parsed = parseTraceparent(incoming);
  if (parsed !== undefined) return { traceId: parsed.traceId, parentId: parsed.parentId, spanId: newSpanId(), flags: parsed.flags };
  const traceId = newTraceId();
  return { traceId, parentId: undefined, spanId: newSpanId(), flags: traceIdRatioSampled(traceId, sampleRatio) ? '01' : '00' };
}

/** Whether a traceparent this sidecar sent on (see {@link formatTraceparent}) has its sampled flag set. */
export function isSampled(traceparent: string): boolean {
  return (Number.parseInt(traceparent.slice(53, 55), 16) & 1) === 1;
}

export function formatTraceparent(context: TraceContext): string {
  return `00-${context.traceId}-${context.spanId}-${context.flags}`;
}

/**
 * The B3 headers to send on, when the request carried any: the single `b3` header
 * (`traceid-spanid[-sampled[-parentspanid]]`) and/or the multi headers (`x-b3-traceid`, …).
 * Each keeps its trace id and sampling; this hop becomes the span, the previous span its parent.
 */
export function nextB3(headers: Readonly<Record<string, string | string[]>>): Record<string, string> | undefined {
  const single = headers['b3'];
  const multiTrace = headers['x-b3-traceid'];
  if (single === undefined && multiTrace === undefined) return undefined;
  const out: Record<string, string> = {};
  const spanId = newSpanId();
  if (typeof single === 'string') {
    const [traceId, parentSpan, sampled] = single.split('-');
    if (traceId !== undefined && /^[0-9a-f]{16}([0-9a-f]{16})?$/.test(traceId) && parentSpan !== undefined && /^[0-9a-f]{16}$/.test(parentSpan)) {
      out['b3'] = `${traceId}-${spanId}${sampled === undefined ? '' : `-${sampled}`}-${parentSpan}`;
    }
  }
  const previousSpan = headers['x-b3-spanid'];
  if (typeof multiTrace === 'string' && /^[0-9a-f]{16}([0-9a-f]{16})?$/.test(multiTrace)) {
    out['x-b3-traceid'] = multiTrace;
    out['x-b3-spanid'] = spanId;
    if (typeof previousSpan === 'string') out['x-b3-parentspanid'] = previousSpan;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}
