/**
 * Raw TCP connections and WebSocket tunnels in a sidecar's registry (prom-client), by
 * direction, service, endpoint (the instance id; '' when the connection got none) and
 * protocol (tcp | websocket):
 *
 *   trellis_tcp_connections_total{direction, dst_service, endpoint, class, error}   connections ended, by verdict
 *   trellis_tcp_open_connections{direction, dst_service, endpoint}                   relayed now
 *   trellis_tcp_sent_bytes_total{…}  trellis_tcp_received_bytes_total{…}           client → upstream, upstream → client
 *   trellis_tcp_connection_duration_seconds_bucket{…}                                     arrival to close
 *
 * `class` is the verdict's (src/proxy/classify.ts: success, connect-failure, timeout, denied…)
 * and `error` the trellis-error code of a connection that could not be relayed. Connections
 * are far fewer than requests, so the counts go through prom-client's labelled children
 * directly. Endpoint labels are bounded by the instances the registry reports.
 */
import { Counter, Gauge, Histogram, type Registry } from './prom.js';

const LABELS = ['direction', 'dst_service', 'endpoint', 'protocol'] as const;
type Label = (typeof LABELS)[number];
export type TcpLabels = Record<Label, string>;

/** Connection durations (ms): from a quick exchange to an hour-long session. */
export const DURATION_BUCKETS_MS: readonly number[] = Object.freeze([
  1, 5, 10, 50, 100, 500, 1_000, 5_000, 10_000, 60_000, 300_000, 900_000, 3_600_000,
]);

export interface TcpConnectionEnd {
  readonly class: string;
  readonly error: string;
  readonly durationMs: number;
  readonly sentBytes: number;
  readonly receivedBytes: number;
}

export class TcpMetrics {
  readonly #connections: Counter<Label | 'class' | 'error'>;
  readonly #open: Gauge<Label>;
  readonly #sent: Counter<Label>;
  readonly #received: Counter<Label>;
  readonly #duration: Histogram<Label>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#connections = new Counter({
      name: 'trellis_tcp_connections_total', help: 'Raw TCP connections and WebSocket tunnels ended, by the verdict on them (class) and, for those not relayed, the trellis-error code',
      labelNames: [...LABELS, 'class', 'error'], registers,
    });
    this.#open = new Gauge({ name: 'trellis_tcp_open_connections', help: 'Raw TCP connections and WebSocket tunnels being relayed', labelNames: LABELS, registers });
    this.#sent = new Counter({ name: 'trellis_tcp_sent_bytes_total', help: 'Bytes relayed from the client to the upstream', labelNames: LABELS, registers });
    this.#received = new Counter({ name: 'trellis_tcp_received_bytes_total', help: 'Bytes relayed from the upstream to the client', labelNames: LABELS, registers });
    this.#duration = new Histogram({
      name: 'trellis_tcp_connection_duration_seconds', help: 'Raw TCP connections and WebSocket tunnels from their arrival to their close, in seconds', labelNames: LABELS, buckets: DURATION_BUCKETS_MS.map((ms) => ms / 1_000), registers,
    });
  }

  opened(labels: TcpLabels): void {
    this.#open.inc(labels);
  }

  /** A connection ended; `wasOpen`: it had been counted by {@link opened}. */
  closed(labels: TcpLabels, end: TcpConnectionEnd, wasOpen: boolean): void {
    if (wasOpen) this.#open.dec(labels);
    this.#connections.inc({ ...labels, class: end.class, error: end.error });
    this.#sent.inc(labels, end.sentBytes);
    this.#received.inc(labels, end.receivedBytes);
    this.#duration.observe(labels, end.durationMs / 1_000);
  }
}
