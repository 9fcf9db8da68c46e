/**
 * /v1/telemetry (sidecar reports in), /v1/stat, /v1/routes, /v1/edges and /v1/check (golden metrics and
 * checks out). The computing is in src/telemetry; these routes parse and validate the query.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { Registry } from '../../registry/registry.js';
import { serviceNameSchema } from '../../registry/schema.js';
import type { CheckResults } from '../../telemetry/aggregate.js';
import { MAX_WINDOW_MS, type TelemetryCollector } from '../../telemetry/collector.js';
import type { TapHub } from '../../telemetry/tap.js';
import { prometheusTargets, type TargetGroup } from '../../telemetry/prometheus-sd.js';
import { formatDuration, parseDuration } from '../../util/duration.js';
import { parseOrThrow } from '../../util/validation.js';
import { access } from './auth.js';

export const DEFAULT_WINDOW = '1m';
/** A report of a sidecar with many upstreams and callers is larger than a registration. */
const REPORT_BODY_LIMIT = 4 * 1024 * 1024;

interface InstanceParams { service: string; id: string }
interface WindowQuery { window?: string; service?: string }

/** The `window` query parameter, in ms. @throws TrellisError VALIDATION naming `window`. */
export function parseWindow(raw: string | undefined): number {
  const ms = parseDuration(raw ?? DEFAULT_WINDOW);
  if (ms === undefined || ms < 1_000 || ms > MAX_WINDOW_MS) {
    throw new TrellisError(ErrorCodes.VALIDATION, `window must be a duration between 1s and ${formatDuration(MAX_WINDOW_MS)}, such as 30s or 5m (got ${JSON.stringify(raw)})`, { field: 'window' });
  }
  return ms;
}

export async function knownServices(registry: Registry): Promise<string[]> {
  return (await registry.listServices()).services.map((s) => s.name);
}

/** `taps`: the open live taps; the answer to a report hands the sidecar their filters (src/telemetry/tap.ts). */
export function telemetryRoutes(app: FastifyInstance, registry: Registry, collector: TelemetryCollector, taps: TapHub): void {
  app.put<{ Params: InstanceParams }>('/v1/telemetry/:service/:id', { bodyLimit: REPORT_BODY_LIMIT, ...access('report') }, async (request) => {
    await collector.accept(request.params.service, request.params.id, request.body);
    const tap = taps.filtersFor(request.params.service, request.params.id);
    return tap.length === 0 ? { accepted: true } : { accepted: true, tap };
  });

  app.get('/v1/telemetry', access('observe'), async () => ({ sidecars: collector.latest() }));

  // Prometheus' http_sd_configs: every reporting sidecar's /metrics address (src/telemetry/prometheus-sd.ts).
  app.get('/v1/prometheus/targets', access('observe'), async (): Promise<TargetGroup[]> => {
    const { instances } = await registry.listAll();
    return prometheusTargets(collector.latest(), new Map(instances.map((i) => [`${i.service}/${i.id}`, i])));
  });

  app.get<{ Querystring: WindowQuery }>('/v1/stat', access('observe'), async (request) => {
    const windowMs = parseWindow(request.query.window);
    const only = request.query.service;
    if (only !== undefined) parseOrThrow(serviceNameSchema, only, 'service');
    const services = collector.stat(windowMs, await knownServices(registry)).filter((s) => only === undefined || s.service === only);
    if (only !== undefined && services.length === 0) {
      throw new TrellisError(ErrorCodes.SERVICE_NOT_FOUND, `no service ${JSON.stringify(only)}: no instance is registered and no sidecar reports it (see \`trellis services\`)`, { field: 'service' });
    }
    return { window: formatDuration(windowMs), services };
  });

  app.get<{ Querystring: WindowQuery }>('/v1/routes', access('observe'), async (request) => {
    const windowMs = parseWindow(request.query.window);
    if (request.query.service === undefined) {
      throw new TrellisError(ErrorCodes.VALIDATION, 'service is required: /v1/routes?service=NAME (the service whose routes to show)', { field: 'service' });
    }
    const service = parseOrThrow(serviceNameSchema, request.query.service, 'service');
    return { window: formatDuration(windowMs), service, routes: collector.routes(windowMs).get(service) ?? [] };
  });

  app.get<{ Querystring: WindowQuery }>('/v1/edges', access('observe'), async (request) => {
    const windowMs = parseWindow(request.query.window);
    return { window: formatDuration(windowMs), edges: collector.edges(windowMs) };
  });

  app.get('/v1/check', access('observe'), async (): Promise<CheckResults> => {
    const checks = await collector.checks();
    return { ok: checks.every((c) => c.ok), checks, time: Date.now() };
  });
}
