/**
 * What a sidecar reports to the control plane every second (and at once when its app's
 * health changes): cumulative counters since the sidecar started, read from its metrics
 * registry, plus the state the control plane needs for `trellis check` and the dashboard.
 * Cumulative, so a lost report loses nothing: the next one carries the totals.
 */
import { z } from 'zod';

/** response_latency_ms bucket bounds (ms): Linkerd's proxy buckets, so existing dashboards translate. */
export const LATENCY_BUCKETS_MS: readonly number[] = Object.freeze([
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1_000, 2_000, 3_000, 4_000, 5_000,
  10_000, 20_000, 30_000, 40_000, 50_000,
]);

const count = z.number().int().nonnegative();
const name = z.string().max(253);

/** Requests of one (direction, caller, callee, caller identity, route), since the sidecar started. */
export const trafficRowSchema = z.object({
  direction: z.enum(['inbound', 'outbound']),
  /** The calling service ('' when unknown). */
  src: name,
  /** The called service. */
  dst: name,
  /** The caller's mTLS identity (SPIFFE ID), '' without one. */
  clientId: z.string().max(2048),
  /** The declared route (src/telemetry/routes.ts); absent from reports of sidecars before routes = [default]. */
  route: name.optional(),
  requests: count,
  success: count,
  failure: count,
  /** Responses by status code. */
  statuses: z.record(count),
  /** Cumulative counts per bucket of LATENCY_BUCKETS_MS, then +Inf (= count). */
  latency: z.object({ buckets: z.array(count).max(64), sum: z.number().nonnegative(), count }).strict(),
}).strict();
export type TrafficRow = z.infer<typeof trafficRowSchema>;

const perService = z.record(count);

/**
 * One request a live tap saw (`trellis tap`, src/telemetry/tap.ts): a summary, never a body,
 * a query string or a header's value besides the authority.
 */
export const tapEventSchema = z.object({
  /** Epoch ms of the response head. */
  at: z.number().int().nonnegative(),
  direction: z.enum(['inbound', 'outbound']),
  method: z.string().max(32),
  /** The path without its query (a query may carry secrets). */
  path: z.string().max(2_048),
  authority: z.string().max(300),
  /** The called service. */
  service: name,
  /** The calling service ('' when unknown). */
  caller: name,
  /** The caller's SPIFFE ID (inbound, under mTLS), else ''. */
  clientId: z.string().max(2_048),
  status: z.number().int().nonnegative(),
  latencyMs: z.number().nonnegative(),
  /** The instance that answered (outbound), else null. */
  endpoint: z.string().max(256).nullable(),
  /** Attempts beyond the first (outbound). */
  retries: count,
  /** The trellis-error code of an answer the proxy made, else '' (not `error`: a stream's `error` is its end). */
  errorCode: z.string().max(64),
  requestId: z.string().max(256),
}).strict();
export type TapEvent = z.infer<typeof tapEventSchema>;

/** What a live tap asks the sidecars of one service for (the control plane's answer to a report). */
export const tapFilterSchema = z.object({
  /** A path prefix. */
  path: z.string().max(2_048).optional(),
  method: z.string().max(32).optional(),
}).strict();
export type TapFilter = z.infer<typeof tapFilterSchema>;

/** Tap events one report carries at most (the rest of the interval's requests are not sampled). */
export const MAX_TAP_EVENTS = 100;

export const telemetryReportSchema = z.object({
  /** The sidecar's wall clock when it made the report (epoch ms): clock skew is measured from it. */
  at: z.number().int().nonnegative(),
  startedAt: z.number().int().nonnegative(),
  /** How often the sidecar reports (ms). */
  intervalMs: z.number().int().positive().max(600_000),
  app: z.object({ status: z.enum(['passing', 'warning', 'critical']), output: z.string().max(1_024) }).strict().nullable(),
  registration: z.string().max(64).nullable(),
  /** connected | stale | connecting: whether the sidecar follows the control plane. */
  controlPlane: z.string().max(64),
  upstreams: z.record(z.object({ state: z.string().max(64), endpoints: count, ejected: z.array(z.string().max(256)).max(10_000) }).strict()),
  traffic: z.array(trafficRowSchema).max(10_000),
  retries: perService,
  ejections: perService,
  circuitRejections: perService,
  tlsHandshakeFailures: count,
  openConnections: count,
  /** The sidecar's workload certificate (null with mTLS off, or before the first one); absent from older sidecars. */
  certificate: z.object({ spiffeId: z.string().max(2_048), notAfter: z.string().max(64) }).strict().nullable().default(null),
  /** Where the sidecar's admin listener serves /metrics (host:port; null with metrics off); absent from older sidecars. Prometheus finds it here (GET /v1/prometheus/targets). */
  admin: z.string().max(300).nullable().default(null),
  /** Requests sampled for the live taps the control plane asked for (at most MAX_TAP_EVENTS); absent from older sidecars. */
  tap: z.array(tapEventSchema).max(MAX_TAP_EVENTS).default([]),
}).strict();
export type TelemetryReport = z.infer<typeof telemetryReportSchema>;

/** A report as the control plane keeps it: who sent it and when it arrived. */
export interface StoredReport {
  readonly service: string;
  readonly id: string;
  /** The control plane's wall clock when the report arrived. */
  readonly receivedAt: number;
  readonly report: TelemetryReport;
}
