/**
 * The web dashboard: static files from `dashboard/` at the repository root under
 * /dashboard/, and /v1/dashboard/events, a server-sent-event stream of the mesh's view —
 * services with their instances (registry health) and golden metrics (also per route), their
 * sparklines' series (`?series=15m&step=10s`), the edges between them, and what each sidecar reports (ejections, app health). A view is sent on connect,
 * every second, and within 50 ms of any registry change, so a dead instance shows at once.
 */
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';
import type { Registry } from '../../registry/registry.js';
import type { Instance } from '../../registry/types.js';
import type { EdgeStats, RouteStats, ServiceStats } from '../../telemetry/aggregate.js';
import { MAX_WINDOW_MS, type TelemetryCollector } from '../../telemetry/collector.js';
import type { TrafficSeries } from '../../telemetry/series.js';
import { Departures, type Departure } from '../../telemetry/departures.js';
import type { StoredReport } from '../../telemetry/snapshot.js';
import { formatDuration, parseDuration } from '../../util/duration.js';
import { access } from './auth.js';
import { knownServices, parseWindow } from './telemetry.js';

/** dist/src/control-plane/api → the repository's dashboard/. */
const DASHBOARD_DIR = fileURLToPath(new URL('../../../../dashboard/', import.meta.url));
const FILE_NAME = /^[a-z0-9-]+\.(html|js|css|svg)$/;
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
const DASHBOARD_WINDOW = '30s';
/** The sparklines: the last 15 minutes (the collector's history) in 90 steps of 10 s. */
const SERIES_SPAN = '15m';
const SERIES_STEP = '10s';
const MAX_SERIES_POINTS = 900;
const TICK_MS = 1_000;
const CHANGE_DELAY_MS = 50;

export interface DashboardView {
  readonly time: number;
  readonly window: string;
  readonly services: readonly ServiceStats[];
  readonly edges: readonly EdgeStats[];
  /** Per service, its golden metrics per declared route (inbound, as `trellis routes`); services without requests in the window are absent. */
  readonly routes: Readonly<Record<string, readonly RouteStats[]>>;
  /** Per service and route, success rate, rps and p99 per step (the sparklines: src/telemetry/series.ts). */
  readonly series: TrafficSeries;
  readonly instances: readonly Instance[];
  /** Instances that left the registry in the last minutes (shown red until they come back). */
  readonly departed: readonly Departure[];
  readonly sidecars: ReadonlyArray<Pick<StoredReport, 'service' | 'id' | 'receivedAt'> & {
    readonly app: StoredReport['report']['app'];
    readonly controlPlane: string;
    readonly upstreams: StoredReport['report']['upstreams'];
    readonly certificate: StoredReport['report']['certificate'];
  }>;
}

export interface SeriesOptions { readonly spanMs: number; readonly stepMs: number }

/** The sparklines' span (`series`, 1s–15m) and step (`step`, 1s–5m, at most 900 steps in the span). @throws TrellisError VALIDATION naming the field. */
export function parseSeriesOptions(series: string | undefined, step: string | undefined): SeriesOptions {
  const spanMs = parseDuration(series ?? SERIES_SPAN);
  if (spanMs === undefined || spanMs < 1_000 || spanMs > MAX_WINDOW_MS) {
    throw new TrellisError(ErrorCodes.VALIDATION, `series must be a duration between 1s and ${formatDuration(MAX_WINDOW_MS)} (the sparklines' span), such as 15m (got ${JSON.stringify(series)})`, { field: 'series' });
  }
  const stepMs = parseDuration(step ?? SERIES_STEP);
  if (stepMs === undefined || stepMs < 1_000 || stepMs > 5 * 60_000 || stepMs > spanMs || spanMs / stepMs > MAX_SERIES_POINTS) {
    throw new TrellisError(ErrorCodes.VALIDATION, `step must be a duration between 1s and 5m, no longer than the series' span and at most ${MAX_SERIES_POINTS} steps in it, such as 10s (got ${JSON.stringify(step)})`, { field: 'step' });
  }
  return { spanMs, stepMs };
}

export async function dashboardView(registry: Registry, collector: TelemetryCollector, departures: Departures | undefined, window: string, series: SeriesOptions = parseSeriesOptions(undefined, undefined)): Promise<DashboardView> {
  const windowMs = parseWindow(window);
  const { instances } = await registry.listAll();
  return {
    time: Date.now(),
    window: formatDuration(windowMs),
    services: collector.stat(windowMs, await knownServices(registry)),
    edges: collector.edges(windowMs),
    routes: Object.fromEntries([...collector.routes(windowMs)].filter(([, routes]) => routes.some((r) => r.requests > 0))),
    series: collector.series(series.spanMs, series.stepMs),
    instances,
    departed: departures?.list() ?? [],
    sidecars: collector.latest().map((s) => ({
      service: s.service, id: s.id, receivedAt: s.receivedAt, app: s.report.app, controlPlane: s.report.controlPlane, upstreams: s.report.upstreams,
      certificate: s.report.certificate,
    })),
  };
}

export function dashboardRoutes(app: FastifyInstance, registry: Registry, collector: TelemetryCollector, logger: Logger): void {
  // The registry is followed from the first dashboard connection on, for as long as the API
  // runs: every change (and every departure) wakes the open streams.
  const viewers = new Set<() => void>();
  let departures: Promise<Departures> | undefined;
  const departuresStarted = (): Promise<Departures> => {
    departures ??= Departures.start(registry, logger, () => { for (const changed of viewers) changed(); });
    return departures;
  };
  app.addHook('onClose', async () => { if (departures !== undefined) (await departures).close(); });

  // The page's own query (?window=…&series=…&step=…: see dashboard/app.js) goes along.
  const withQuery = (path: string, url: string): string => `${path}${url.includes('?') ? url.slice(url.indexOf('?')) : ''}`;
  app.get('/dashboard', access('open'), async (request, reply) => reply.redirect(withQuery('/dashboard/', request.url)));
  app.get<{ Params: { file?: string } }>('/dashboard/:file', access('open'), async (request, reply) => {
    const file = request.params.file === undefined || request.params.file === '' ? 'index.html' : request.params.file;
    if (!FILE_NAME.test(file)) throw new TrellisError(ErrorCodes.NOT_FOUND, `no dashboard file ${JSON.stringify(file)}`);
    let body: Buffer;
    try {
      body = await readFile(`${DASHBOARD_DIR}${file}`);
    } catch {
      throw new TrellisError(ErrorCodes.NOT_FOUND, `no dashboard file ${JSON.stringify(file)}`);
    }
    return reply.header('content-type', CONTENT_TYPES[extname(file)] ?? 'application/octet-stream').header('cache-control', 'no-cache').send(body);
  });
  app.get('/dashboard/', access('open'), async (request, reply) => reply.redirect(withQuery('/dashboard/index.html', request.url)));

  app.get<{ Querystring: { window?: string; series?: string; step?: string } }>('/v1/dashboard/events', access('observe'), async (request, reply) => {
    const window = request.query.window ?? DASHBOARD_WINDOW;
    parseWindow(window);
    const series = parseSeriesOptions(request.query.series, request.query.step);
    const departed = await departuresStarted();
    let res: ServerResponse | undefined;
    let closed = false;
    let sending = false;
    let again = false;
    let soon: NodeJS.Timeout | undefined;
    const send = async (): Promise<void> => {
      if (closed || res === undefined) return;
      if (sending) { again = true; return; }
      sending = true;
      try {
        const view = await dashboardView(registry, collector, departed, window, series);
        if (!closed && res.writableLength < 4 * 1024 * 1024) res.write(`event: view\ndata: ${JSON.stringify(view)}\n\n`);
      } catch (err) {
        logger.warn({ err: messageOf(err) }, 'dashboard view failed');
      } finally {
        sending = false;
        if (again) { again = false; void send(); }
      }
    };
    const changed = (): void => {
      if (soon !== undefined || closed) return;
      soon = setTimeout(() => { soon = undefined; void send(); }, CHANGE_DELAY_MS);
    };
    viewers.add(changed);
    const ticker = setInterval(() => { void send(); }, TICK_MS);
    ticker.unref();
    const end = (): void => {
      if (closed) return;
      closed = true;
      viewers.delete(changed);
      clearInterval(ticker);
      clearTimeout(soon);
      if (res !== undefined && !res.destroyed) res.end();
    };
    reply.hijack();
    res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.on('close', end);
    await send();
  });
}
