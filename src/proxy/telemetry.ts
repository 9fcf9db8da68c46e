/**
 * The sidecar's telemetry, assembled once: the metrics registry, the access log, the
 * counters the resilience layers keep, and the telemetry layers every pipeline starts with
 * (propagate → metrics → access log). With `telemetry.metrics: false` and `accessLog: off`
 * only trace propagation remains (the benchmark's reference).
 */
import { openAccessLog, type AccessLog } from '../telemetry/access-log.js';
import { SidecarMetrics } from '../telemetry/metrics.js';
import type { TelemetryConfig } from './config.js';
import { createAccessLogLayer } from './layers/access-log.js';
import { createCircuitStats, type CircuitCounter } from './layers/circuit-breaker.js';
import { createMetricsLayer } from './layers/metrics.js';
import { OUTLIER_COUNTERS, type OutlierCounter } from './layers/outlier.js';
import { createPropagationLayer } from './layers/propagate.js';
import { createRetryStats, type RetryCounter } from './layers/retry.js';
import { Counters } from './layers/stats.js';
import type { Direction, Layer } from './types.js';

export interface SidecarTelemetry {
  /** Undefined when metrics are off. */
  readonly metrics: SidecarMetrics | undefined;
  readonly layers: readonly Layer[];
  readonly stats: {
    readonly retry: Counters<RetryCounter>;
    readonly circuit: Counters<CircuitCounter>;
    readonly outlier: Counters<OutlierCounter>;
  };
  close(): void;
}

export function createSidecarTelemetry(service: string, config: TelemetryConfig, openConnections: (direction: Direction) => number): SidecarTelemetry {
  const stats = { retry: createRetryStats(), circuit: createCircuitStats(), outlier: new Counters(OUTLIER_COUNTERS) };
  const layers: Layer[] = [createPropagationLayer(service)];
  let metrics: SidecarMetrics | undefined;
  if (config.metrics) {
    metrics = new SidecarMetrics({ openConnections });
    metrics.attach(stats);
    layers.push(createMetricsLayer(metrics, service));
  }
  let accessLog: AccessLog | undefined;
  if (config.accessLog !== 'off') {
    accessLog = openAccessLog(config.accessLog);
    layers.push(createAccessLogLayer(accessLog.logger, service));
  }
  return {
    metrics,
    layers: Object.freeze(layers),
    stats,
    close: () => accessLog?.close(),
  };
}
