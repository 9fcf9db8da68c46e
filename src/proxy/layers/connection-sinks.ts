/**
 * The sinks of the connection stack's observation layer (observe-connections.ts): the TCP
 * metrics (src/telemetry/tcp-metrics.ts) and one access-log line per connection, in the
 * access log's pino line format (level 30 = info, epoch ms `time`), marked `"protocol":"tcp"`
 * (or `"websocket"` for a tunnel, beside its upgrade request's line):
 *
 *   {"level":30,"time":…,"protocol":"tcp","direction":"outbound","connectionId":"…","service":"echo",
 *    "peer":"web","clientId":"","class":"success","blame":"none","error":"","attempts":2,"connectMs":1.3,
 *    "durationMs":52.1,"sentBytes":120,"receivedBytes":120,"upstream":"127.0.0.1:41234","endpointId":"echo-1"}
 *
 * Connections are few next to requests: the line is made by JSON.stringify.
 */
import type { AccessLog } from '../../telemetry/access-log.js';
import type { SidecarMetrics } from '../../telemetry/metrics.js';
import type { TcpLabels } from '../../telemetry/tcp-metrics.js';
import type { ConnectionRecord, ConnectionSink, OpenConnection } from './observe-connections.js';

function labelsOf(c: OpenConnection): TcpLabels {
  return { direction: c.direction, dst_service: c.service, endpoint: c.endpoint?.id ?? '', protocol: c.protocol };
}

export function connectionMetricsSink(metrics: SidecarMetrics): ConnectionSink {
  return {
    opened: (c) => metrics.tcp.opened(labelsOf(c)),
    closed: (r) => metrics.tcp.closed(labelsOf(r), { class: r.verdict.class, error: r.error, durationMs: r.durationMs, sentBytes: r.sentBytes, receivedBytes: r.receivedBytes }, r.relayed),
  };
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** One connection's line (the fields in their order). */
export function connectionLine(r: ConnectionRecord, time: number): string {
  const { endpoint } = r;
  return JSON.stringify({
    level: 30,
    time,
    protocol: r.protocol,
    direction: r.direction,
    connectionId: r.request.id,
    service: r.service,
    peer: r.src,
    clientId: r.request.peer?.spiffeId ?? '',
    class: r.verdict.class,
    blame: r.verdict.blame,
    error: r.error,
    attempts: r.attempts,
    connectMs: round(r.connectMs),
    durationMs: round(r.durationMs),
    sentBytes: r.sentBytes,
    receivedBytes: r.receivedBytes,
    upstream: endpoint === undefined ? null : `${endpoint.address}:${endpoint.port}`,
    endpointId: endpoint?.id ?? null,
  });
}

export function connectionAccessLogSink(log: AccessLog): ConnectionSink {
  return { closed: (r) => log.write(connectionLine(r, Date.now())) };
}
