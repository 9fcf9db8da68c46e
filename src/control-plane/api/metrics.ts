/**
 * The control plane's own Prometheus metrics at `GET /metrics` (one prom-client Registry per
 * API, never the global one): API requests by route and status (registrations are
 * `PUT /v1/services/:service/instances/:id`, heartbeats `…/heartbeat`, sidecar reports
 * `PUT /v1/telemetry/:service/:id`) with their latency, open watch and dashboard streams,
 * instances per service and health, sidecars reporting, the result of each check, and the
 * listener's connections: open, unfinished (no request head yet), and shed or refused by reason.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Registry as ServiceRegistry } from '../../registry/registry.js';
import type { TelemetryCollector } from '../../telemetry/collector.js';
import { access } from './auth.js';
import { REFUSAL_REASONS, type ConnectionGuard } from './listener-limits.js';

const STREAM_ROUTES: Readonly<Record<string, string>> = { '/v1/watch': 'watch', '/v1/dashboard/events': 'dashboard' };

export function metricsRoutes(app: FastifyInstance, registry: ServiceRegistry, collector: TelemetryCollector | undefined, connections?: ConnectionGuard): void {
  const metrics = new Registry();
  const registers = [metrics];
  const requests = new Counter({ name: 'trellis_api_requests_total', help: 'API requests, by route, method and status code', labelNames: ['route', 'method', 'status_code'], registers });
  const latency = new Histogram({
    // Seconds, Prometheus' base unit (`promtool check metrics` refuses `_ms`).
    name: 'trellis_api_request_duration_seconds', help: 'API request duration (streams: until the head), seconds', labelNames: ['route', 'method'],
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 5], registers,
  });
  const streams = new Gauge({ name: 'trellis_open_streams', help: 'Open watch and dashboard streams', labelNames: ['kind'], registers });
  for (const kind of Object.values(STREAM_ROUTES)) streams.set({ kind }, 0);
  new Gauge({
    name: 'trellis_instances', help: 'Registered instances, by service and health', labelNames: ['service', 'status'], registers,
    async collect() {
      this.reset();
      for (const s of (await registry.listServices()).services) {
        for (const status of ['passing', 'warning', 'critical'] as const) this.set({ service: s.name, status }, s[status]);
      }
    },
  });
  if (connections !== undefined) {
    new Gauge({
      name: 'trellis_api_connections', help: 'Open API connections, by state (unfinished: no complete request head yet)', labelNames: ['state'], registers,
      collect() { this.set({ state: 'unfinished' }, connections.unfinished()); this.set({ state: 'serving' }, connections.open() - connections.unfinished()); },
    });
    new Gauge({
      name: 'trellis_api_connections_max', help: 'The most API connections admitted at once (--max-connections, capped by the fd limit)', registers,
      collect() { this.set(connections.maxConnections); },
    });
    new Counter({
      name: 'trellis_api_connections_refused_total',
      help: 'API connections closed by the listener limits: shed_unfinished (the oldest slow one, to make room), max_connections, max_per_source (refused)',
      labelNames: ['reason'], registers,
      collect() {
        // The guard keeps the totals; the counter shows them as they are now.
        const counts = connections.refused();
        this.reset();
        for (const reason of REFUSAL_REASONS) this.inc({ reason }, counts[reason]);
      },
    });
  }
  if (collector !== undefined) {
    new Gauge({
      name: 'trellis_sidecars_reporting', help: 'Sidecars whose telemetry report is current', registers,
      collect() { this.set(collector.latest().length); },
    });
    const checks = new Gauge({ name: 'trellis_check_ok', help: '1 when the check passed at the last /v1/check, else 0', labelNames: ['check'], registers });
    collector.onChecks((results) => { for (const r of results) checks.set({ check: r.name }, r.ok ? 1 : 0); });
  }

  app.addHook('onRequest', async (request, reply) => {
    const kind = STREAM_ROUTES[request.routeOptions.url ?? ''];
    if (kind === undefined) return;
    streams.inc({ kind });
    reply.raw.once('close', () => streams.dec({ kind }));
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    requests.inc({ route, method: request.method, status_code: String(reply.statusCode) });
    latency.observe({ route, method: request.method }, reply.elapsedTime / 1_000);
  });
  app.get('/metrics', access('open'), async (_request, reply) => reply.header('content-type', metrics.contentType).send(await metrics.metrics()));
}
