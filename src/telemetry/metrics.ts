/**
 * A sidecar's Prometheus metrics (prom-client), one Registry per sidecar — never the
 * global default one. Names and labels follow Linkerd's proxy metrics so that existing
 * dashboards translate:
 *
 *   request_total{direction, src_service, dst_service, client_id, route}
 *   response_total{…, status_code, classification, error}      classification = success | failure
 *   response_latency_seconds_bucket{…}                            time to the response head, s
 *   trellis_retries_total{dst_service}  trellis_retry_budget_exhausted_total{dst_service}
 *   trellis_outlier_ejections_total{dst_service}  trellis_circuit_rejections_total{dst_service}
 *   trellis_tls_handshake_failures_total{direction}  tcp_open_connections{direction}
 *   trellis_tcp_connections_total{direction, dst_service, endpoint, class, error} and the other
 *   raw-TCP connection metrics (./tcp-metrics.ts)
 *
 * The data path calls `record()` once per request with the verdict of classify.ts: it adds
 * to plain numbers kept per (direction, peer, route) — no label hashing per request — and prom-client
 * reads them when it is scraped (collect / get), so the exposition stays prom-client's. The caller's service is a
 * header a client could forge, so distinct peers are capped ({@link MAX_PEERS}). `route` is the
 * name of a declared route or [default] (src/telemetry/routes.ts), never the raw path.
 */
import { Counter, Gauge, Histogram, Registry, type MetricType } from './prom.js';
import type { Classification, Direction } from '../core/traffic.js';
import { LATENCY_BUCKETS_MS, type TrafficRow } from './snapshot.js';
import { TcpMetrics } from './tcp-metrics.js';

/** Distinct (direction, src, dst, client id, route) rows before new peers are counted as "other". */
export const MAX_PEERS = 500;

const TRAFFIC_LABELS = ['direction', 'src_service', 'dst_service', 'client_id', 'route'] as const;

type TrafficLabel = (typeof TRAFFIC_LABELS)[number];
type TrafficLabels = Record<TrafficLabel, string>;

/**
 * The counts of one (direction, src, dst, client id, route), kept as plain numbers: the data path
 * adds to them without hashing labels, and prom-client reads them when it is scraped.
 */
interface Children {
  readonly labels: TrafficLabels;
  requests: number;
  /** Observations per bucket of LATENCY_BUCKETS_MS, then the +Inf one (not cumulative). */
  readonly buckets: number[];
  sum: number;
  /** By status × classification (a number) or, for answers the proxy made, with their error code (a string). */
  readonly responses: Map<number | string, { readonly labels: Record<string, string>; count: number }>;
}

/**
 * In seconds, Prometheus' base unit (Linkerd's proxy says response_latency_ms; `promtool check
 * metrics` refuses abbreviated units): the rows keep milliseconds, the exposition divides.
 */
const LATENCY_NAME = 'response_latency_seconds';
const LATENCY_HELP = 'Time from a request arriving to its response head, in seconds';
const LATENCY_BUCKETS_S: readonly number[] = Object.freeze(LATENCY_BUCKETS_MS.map((ms) => ms / 1_000));

/** A histogram whose values come from the sidecar's plain counts (prom-client formats them). */
class TrafficHistogram extends Histogram<TrafficLabel> {
  readonly #rows: () => Iterable<Children>;

  constructor(rows: () => Iterable<Children>, registers: Registry[]) {
    super({ name: LATENCY_NAME, help: LATENCY_HELP, labelNames: TRAFFIC_LABELS, buckets: [...LATENCY_BUCKETS_S], registers });
    this.#rows = rows;
  }

  override async get(): Promise<Awaited<ReturnType<Histogram<TrafficLabel>['get']>>> {
    return this.getForPromString();
  }

  /**
   * prom-client's Registry reads a histogram through this method when it has one
   * (lib/registry.js), and Histogram has it: overridden too, so that both the text exposition
   * and getMetricsAsJSON() show these counts (test/telemetry/metrics.test.ts pins it).
   */
  async getForPromString(): Promise<Awaited<ReturnType<Histogram<TrafficLabel>['get']>>> {
    // prom-client's typings declare `type` as an enum that does not exist at run time; the value is the string.
    const base = { name: LATENCY_NAME, help: LATENCY_HELP, type: 'histogram' as unknown as MetricType, aggregator: 'sum' as const, collect: () => undefined };
    const values: Array<{ value: number; labels: Partial<Record<TrafficLabel | 'le', string | number>>; metricName: string }> = [];
    for (const row of this.#rows()) {
      let cumulative = 0;
      row.buckets.forEach((n, i) => {
        cumulative += n;
        values.push({ value: cumulative, labels: { ...row.labels, le: i < LATENCY_BUCKETS_S.length ? LATENCY_BUCKETS_S[i] : '+Inf' }, metricName: `${LATENCY_NAME}_bucket` });
      });
      values.push({ value: row.sum / 1_000, labels: row.labels, metricName: `${LATENCY_NAME}_sum` });
      values.push({ value: cumulative, labels: row.labels, metricName: `${LATENCY_NAME}_count` });
    }
    return { ...base, values };
  }
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
  /** Raw TCP connections (recorded by the connection stack's observation layer). */
  readonly tcp = new TcpMetrics(this.registry);
  readonly #tlsFailures: Counter<'direction'>;
  readonly #children = new Map<string, Children>();
  #tlsFailureCount = 0;
  #counters: LayerCounters | undefined;
  #beforeRead: () => void = () => undefined;

  constructor(options: { openConnections?: (direction: Direction) => number } = {}) {
    const registers = [this.registry];
    const rows = (): Iterable<Children> => this.#children.values();
    new Counter({
      name: 'request_total', help: 'Requests received, per direction and peer services', labelNames: TRAFFIC_LABELS, registers,
      collect() {
        this.reset();
        for (const row of rows()) this.inc(row.labels, row.requests);
      },
    });
    new Counter({
      name: 'response_total', help: 'Responses, by status code and classification (success | failure); error = the trellis-error code of answers the proxy made',
      labelNames: [...TRAFFIC_LABELS, 'status_code', 'classification', 'error'], registers,
      collect() {
        this.reset();
        for (const row of rows()) for (const response of row.responses.values()) this.inc(response.labels, response.count);
      },
    });
    new TrafficHistogram(rows, registers);
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

  /** Called before the counts are read (/metrics, traffic()): the observation layer hands over the requests it has queued. */
  beforeRead(hook: () => void): void {
    this.#beforeRead = hook;
  }

  /** Spans the OTLP export dropped because its queue was full (src/telemetry/otlp.ts), read when metrics are collected. */
  countDroppedSpans(dropped: () => number): void {
    new Counter({
      name: 'trellis_otlp_spans_dropped_total', help: 'Sampled spans not exported because the export queue was full (8192)', registers: [this.registry],
      collect() {
        this.reset();
        this.inc(dropped());
      },
    });
  }

  /** The layers' counters (retries, ejections, circuit rejections), read when metrics are collected. */
  attach(counters: LayerCounters): void {
    this.#counters = counters;
  }

  /** One request, as the metrics layer saw it end (status and verdict from classify.ts / rescue.ts). */
  record(direction: Direction, src: string, dst: string, clientId: string, route: string, status: number, classification: Classification, error: string, latencyMs: number): void {
    const children = this.#childrenFor(direction, src, dst, clientId, route);
    children.requests += 1;
    let bucket = 0;
    while (bucket < LATENCY_BUCKETS_MS.length && latencyMs > (LATENCY_BUCKETS_MS[bucket])) bucket += 1;
    children.buckets[bucket] = (children.buckets[bucket]) + 1;
    children.sum += latencyMs;
    const responseKey = error === '' ? status * 2 + (classification === 'failure' ? 1 : 0) : `${status}|${classification}|${error}`;
    let response = children.responses.get(responseKey);
    if (response === undefined) {
      response = { labels: { ...children.labels, status_code: String(status), classification, error }, count: 0 };
      children.responses.set(responseKey, response);
    }
    response.count += 1;
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
    this.#beforeRead();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Cumulative traffic rows: the same counts /metrics shows. */
  traffic(): TrafficRow[] {
    this.#beforeRead();
    const out: TrafficRow[] = [];
    for (const row of this.#children.values()) {
      const statuses: Record<string, number> = {};
      let success = 0;
      let failure = 0;
      for (const response of row.responses.values()) {
        const code = response.labels['status_code'];
        statuses[code] = (statuses[code] ?? 0) + response.count;
        if (response.labels['classification'] === 'failure') failure += response.count;
        else success += response.count;
      }
      let cumulative = 0;
      const buckets = row.buckets.map((n) => (cumulative += n));
      out.push({
        direction: row.labels.direction === 'inbound' ? 'inbound' : 'outbound',
        src: row.labels.src_service, dst: row.labels.dst_service, clientId: row.labels.client_id, route: row.labels.route,
        requests: row.requests, success, failure, statuses,
        latency: { buckets, sum: row.sum, count: cumulative },
      });
    }
    return out;
  }

  #childrenFor(direction: Direction, src: string, dst: string, clientId: string, route: string): Children {
    const key = `${direction}|${src}|${dst}|${clientId}|${route}`;
    let children = this.#children.get(key);
    if (children !== undefined) return children;
    if (this.#children.size >= MAX_PEERS && src !== 'other') return this.#childrenFor(direction, 'other', dst, '', route);
    const labels = { direction, src_service: src, dst_service: dst, client_id: clientId, route };
    children = { labels, requests: 0, buckets: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0), sum: 0, responses: new Map() };
    this.#children.set(key, children);
    return children;
  }
}
