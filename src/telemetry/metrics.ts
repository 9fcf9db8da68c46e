/**
 * A sidecar's Prometheus metrics (prom-client), one Registry per sidecar — never the
 * global default one. Names and labels follow Linkerd's proxy metrics so that existing
 * dashboards translate:
 *
 *   request_total{direction, src_service, dst_service, client_id}
 *   response_total{…, status_code, classification, error}      classification = success | failure
 *   response_latency_ms_bucket{…}                                 time to the response head, ms
 *   trellis_retries_total{dst_service}  trellis_retry_budget_exhausted_total{dst_service}
 *   trellis_outlier_ejections_total{dst_service}  trellis_circuit_rejections_total{dst_service}
 *   trellis_tls_handshake_failures_total{direction}  tcp_open_connections{direction}
 *
 * The data path calls `record()` once per request with the verdict of classify.ts; label
 * children are created once per (direction, peer) and reused. The caller's service is a
 * header a client could forge, so distinct peers are capped ({@link MAX_PEERS}).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Classification, Direction } from '../proxy/types.js';
import { LATENCY_BUCKETS_MS, type TrafficRow } from './snapshot.js';

/** Distinct (direction, src, dst, client id) rows before new peers are counted as "other". */
export const MAX_PEERS = 500;

const TRAFFIC_LABELS = ['direction', 'src_service', 'dst_service', 'client_id'] as const;

interface Children {
  readonly key: string;
  readonly labels: Record<(typeof TRAFFIC_LABELS)[number], string>;
  readonly request: { inc(): void };
  readonly latency: { observe(value: number): void };
  readonly responses: Map<string, { inc(): void }>;
}

/** The per-service counters the layers keep (src/proxy/layers/stats.ts). */
export interface LayerCounters {
  readonly retry: { snapshot(): Record<string, Record<'requests' | 'retries' | 'budgetExhausted', number>> };
  readonly circuit: { snapshot(): Record<string, Record<'rejected' | 'queued' | 'cancelled', number>> };
  readonly outlier: { snapshot(): Record<string, Record<'ejections' | 'overflow', number>> };
}

function column<N extends string>(table: Record<string, Record<N, number>>, name: N): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [service, row] of Object.entries(table)) out[service] = row[name];
  return out;
}

export class SidecarMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<(typeof TRAFFIC_LABELS)[number]>;
  readonly #responses: Counter<string>;
  readonly #latency: Histogram<(typeof TRAFFIC_LABELS)[number]>;
  readonly #tlsFailures: Counter<'direction'>;
  readonly #children = new Map<string, Children>();
  #tlsFailureCount = 0;
  #counters: LayerCounters | undefined;

  constructor(options: { openConnections?: (direction: Direction) => number } = {}) {
    const registers = [this.registry];
    this.#requests = new Counter({ name: 'request_total', help: 'Requests received, per direction and peer services', labelNames: TRAFFIC_LABELS, registers });
    this.#responses = new Counter({
      name: 'response_total', help: 'Responses, by status code and classification (success | failure); error = the trellis-error code of answers the proxy made',
      labelNames: [...TRAFFIC_LABELS, 'status_code', 'classification', 'error'], registers,
    });
    this.#latency = new Histogram({
      name: 'response_latency_ms', help: 'Time from a request arriving to its response head, in ms',
      labelNames: TRAFFIC_LABELS, buckets: [...LATENCY_BUCKETS_MS], registers,
    });
    this.#tlsFailures = new Counter({ name: 'trellis_tls_handshake_failures_total', help: 'TLS handshakes that failed', labelNames: ['direction'], registers });
    const self = this;
    const perService = (metric: string, help: string, pick: (c: LayerCounters) => Record<string, number>): void => {
      new Counter({
        name: metric, help, labelNames: ['dst_service'], registers,
        collect() {
          this.reset();
          const counters = self.#counters;
          if (counters === undefined) return;
          for (const [service, value] of Object.entries(pick(counters))) this.inc({ dst_service: service }, value);
        },
      });
    };
    perService('trellis_retries_total', 'Retries sent, per upstream service', (c) => column(c.retry.snapshot(), 'retries'));
    perService('trellis_retry_budget_exhausted_total', 'Retries not sent because the retry budget was spent', (c) => column(c.retry.snapshot(), 'budgetExhausted'));
    perService('trellis_outlier_ejections_total', 'Endpoints ejected by outlier detection', (c) => column(c.outlier.snapshot(), 'ejections'));
    perService('trellis_circuit_rejections_total', 'Requests refused by the circuit breaker (CIRCUIT_OPEN)', (c) => column(c.circuit.snapshot(), 'rejected'));
    const open = options.openConnections;
    new Gauge({
      name: 'tcp_open_connections', help: 'Requests and connections in flight, per direction', labelNames: ['direction'], registers,
      collect() {
        if (open === undefined) return;
        this.set({ direction: 'inbound' }, open('inbound'));
        this.set({ direction: 'outbound' }, open('outbound'));
      },
    });
  }

  /** The layers' counters (retries, ejections, circuit rejections), read when metrics are collected. */
  attach(counters: LayerCounters): void {
    this.#counters = counters;
  }

  /** One request, as the metrics layer saw it end (status and verdict from classify.ts / rescue.ts). */
  record(direction: Direction, src: string, dst: string, clientId: string, status: number, classification: Classification, error: string, latencyMs: number): void {
    const children = this.#childrenFor(direction, src, dst, clientId);
    children.request.inc();
    children.latency.observe(latencyMs);
    const responseKey = `${status}|${classification}|${error}`;
    let response = children.responses.get(responseKey);
    if (response === undefined) {
      response = this.#responses.labels({ ...children.labels, status_code: String(status), classification, error });
      children.responses.set(responseKey, response);
    }
    response.inc();
  }

  /** For the TLS listeners: a handshake that failed (bad certificate, wrong protocol). */
  tlsHandshakeFailed(direction: Direction): void {
    this.#tlsFailureCount += 1;
    this.#tlsFailures.inc({ direction });
  }

  get tlsHandshakeFailures(): number {
    return this.#tlsFailureCount;
  }

  /** The Prometheus text exposition. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Cumulative traffic rows, read back from the registry (the one source of the counts). */
  async traffic(): Promise<TrafficRow[]> {
    const rows = new Map<string, TrafficRow>();
    const keyOf = (l: Partial<Record<string, string | number>>): string => `${l['direction']}|${l['src_service']}|${l['dst_service']}|${l['client_id']}`;
    const rowOf = (l: Partial<Record<string, string | number>>): TrafficRow => {
      const key = keyOf(l);
      let row = rows.get(key);
      if (row === undefined) {
        row = {
          direction: l['direction'] === 'inbound' ? 'inbound' : 'outbound',
          src: String(l['src_service'] ?? ''), dst: String(l['dst_service'] ?? ''), clientId: String(l['client_id'] ?? ''),
          requests: 0, success: 0, failure: 0, statuses: {},
          latency: { buckets: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0), sum: 0, count: 0 },
        };
        rows.set(key, row);
      }
      return row;
    };
    for (const value of (await this.#requests.get()).values) rowOf(value.labels).requests += value.value;
    for (const value of (await this.#responses.get()).values) {
      const row = rowOf(value.labels);
      if (value.labels['classification'] === 'failure') row.failure += value.value;
      else row.success += value.value;
      const status = String(value.labels['status_code']);
      row.statuses[status] = (row.statuses[status] ?? 0) + value.value;
    }
    for (const value of (await this.#latency.get()).values) {
      const row = rowOf(value.labels);
      if (value.metricName === 'response_latency_ms_sum') row.latency.sum = value.value;
      else if (value.metricName === 'response_latency_ms_count') row.latency.count = value.value;
      else {
        const le = (value.labels as Partial<Record<string, string | number>>)['le'];
        const index = le === '+Inf' ? LATENCY_BUCKETS_MS.length : LATENCY_BUCKETS_MS.indexOf(Number(le));
        if (index >= 0) row.latency.buckets[index] = value.value;
      }
    }
    return [...rows.values()];
  }

  #childrenFor(direction: Direction, src: string, dst: string, clientId: string): Children {
    const key = `${direction}|${src}|${dst}|${clientId}`;
    let children = this.#children.get(key);
    if (children !== undefined) return children;
    if (this.#children.size >= MAX_PEERS && src !== 'other') return this.#childrenFor(direction, 'other', dst, '');
    const labels = { direction, src_service: src, dst_service: dst, client_id: clientId };
    children = { key, labels, request: this.#requests.labels(labels), latency: this.#latency.labels(labels), responses: new Map() };
    this.#children.set(key, children);
    return children;
  }
}
