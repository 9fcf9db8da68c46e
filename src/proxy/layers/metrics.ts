/**
 * The metrics sink of the observation layer (observe.ts): one `record()` per request into
 * the sidecar's registry (src/telemetry/metrics.ts) — plain per-peer, per-route counts.
 */
import type { SidecarMetrics } from '../../telemetry/metrics.js';
import type { RequestSink } from './observe.js';

export function metricsSink(metrics: SidecarMetrics): RequestSink {
  return (r) => metrics.record(r.direction, r.src, r.request.target.service, r.clientId, r.route, r.status, r.classification, r.error, r.latencyMs);
}
