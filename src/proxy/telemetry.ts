/**
 * The sidecar's telemetry, assembled once: the metrics registry, the access log, the
 * counters the resilience layers keep, and the telemetry layers every pipeline starts with
 * (propagate → observe, whose sinks are the metrics and the access log), and those the raw-TCP
 * connection stack starts with (observe-connections: TCP metrics, a line per connection). With
 * `telemetry.metrics: false` and `accessLog: off` only trace propagation remains (the
 * benchmark's reference).
 */
import { openAccessLog, type AccessLog } from '../telemetry/access-log.js';
import { SidecarMetrics } from '../telemetry/metrics.js';
import { sidecarRoutes } from '../telemetry/routes.js';
import type { SidecarConfig } from './config.js';
import { accessLogSink } from './layers/access-log.js';
import { createCircuitStats, type CircuitCounter } from './layers/circuit-breaker.js';
import { connectionAccessLogSink, connectionMetricsSink } from './layers/connection-sinks.js';
import { metricsSink } from './layers/metrics.js';
import { createObserveLayer, type ObserveLayer, type RequestSink } from './layers/observe.js';
import { createConnectionObserveLayer, type ConnectionSink } from './layers/observe-connections.js';
import { OUTLIER_COUNTERS, type OutlierCounter } from './layers/outlier.js';
import { createPropagationLayer } from './layers/propagate.js';
import { createRetryStats, type RetryCounter } from './layers/retry.js';
import { traceExportSink, type ParentSpans } from './layers/trace-export.js';
import { tapSink } from './layers/tap.js';
import { TapRecorder } from '../telemetry/tap.js';
import { startOtlpExport, type ExportResource, type SpanExport } from '../telemetry/otlp.js';
import { Counters } from './layers/stats.js';
import type { Direction, Layer } from './types.js';

export interface SidecarTelemetry {
  /** Undefined when metrics are off. */
  readonly metrics: SidecarMetrics | undefined;
  readonly layers: readonly Layer[];
  /** The telemetry layers of the raw-TCP connection stack (empty when metrics and access log are off). */
  readonly connectionLayers: readonly Layer[];
  /** The layers of the WebSocket upgrade stacks: {@link layers}, then the tunnel's observation (bytes, duration, a line at its close). */
  readonly upgradeLayers: readonly Layer[];
  /** The live tap's recorder (its filters come with the answers to telemetry reports); undefined when nothing observes requests. */
  readonly tap: TapRecorder | undefined;
  readonly stats: {
    readonly retry: Counters<RetryCounter>;
    readonly circuit: Counters<CircuitCounter>;
    readonly outlier: Counters<OutlierCounter>;
  };
  /** Hand over what is queued (access-log lines, spans to export) and close. */
  close(): Promise<void>;
}

/**
 * `onSinkError`: a metrics or access-log sink threw (they run batched, outside any request);
 * the sidecar reports it, throttled.
 */
/**
 * `resource`: who this sidecar is, for exported spans (`telemetry.otlp`); without it spans are
 * not exported (the benchmark's in-process pipeline).
 */
export function createSidecarTelemetry(config: Pick<SidecarConfig, 'service' | 'telemetry' | 'routes' | 'upstreams'>, openConnections: (direction: Direction) => number, onSinkError: (err: unknown) => void = () => undefined, resource?: ExportResource): SidecarTelemetry {
  const { service, telemetry } = config;
  const stats = { retry: createRetryStats(), circuit: createCircuitStats(), outlier: new Counters(OUTLIER_COUNTERS) };
  const sinks: RequestSink[] = [];
  let spans: SpanExport | undefined;
  let parents: ParentSpans | undefined;
  if (telemetry.otlp !== undefined && resource !== undefined) {
    spans = startOtlpExport(telemetry.otlp, resource, onSinkError);
    parents = new WeakMap();
    sinks.push(traceExportSink(spans, parents));
  }
  const layers: Layer[] = [createPropagationLayer(service, parents, spans === undefined ? 1 : telemetry.otlp?.sampleRatio)];
  const connectionSinks: ConnectionSink[] = [];
  let metrics: SidecarMetrics | undefined;
  if (telemetry.metrics) {
    metrics = new SidecarMetrics({ openConnections });
    metrics.attach(stats);
    const exported = spans;
    if (exported !== undefined) metrics.countDroppedSpans(() => exported.dropped());
    sinks.push(metricsSink(metrics));
    connectionSinks.push(connectionMetricsSink(metrics));
  }
  let accessLog: AccessLog | undefined;
  if (telemetry.accessLog !== 'off') {
    accessLog = openAccessLog(telemetry.accessLog);
    sinks.push(accessLogSink(accessLog));
    connectionSinks.push(connectionAccessLogSink(accessLog));
  }
  let observe: ObserveLayer | undefined;
  let tap: TapRecorder | undefined;
  if (sinks.length > 0) {
    tap = new TapRecorder();
    sinks.push(tapSink(tap));
    const routes = sidecarRoutes(config.routes, new Map(config.upstreams.map((u) => [u.service, u.routes])));
    observe = createObserveLayer(sinks, service, routes, onSinkError);
    layers.push(observe.layer);
    metrics?.beforeRead(observe.flush);
  }
  const connectionLayers = connectionSinks.length === 0 ? [] : [createConnectionObserveLayer(connectionSinks, service, onSinkError)];
  const upgradeLayers = connectionSinks.length === 0 ? layers : [...layers, createConnectionObserveLayer(connectionSinks, service, onSinkError, 'websocket')];
  return {
    metrics,
    layers: Object.freeze(layers),
    connectionLayers: Object.freeze(connectionLayers),
    upgradeLayers: Object.freeze(upgradeLayers),
    tap,
    stats,
    close: async () => {
      observe?.flush();
      accessLog?.close();
      await spans?.close();
    },
  };
}
