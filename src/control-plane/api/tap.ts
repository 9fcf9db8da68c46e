/**
 * `GET /v1/tap?service=S[&path=PREFIX][&method=M]` (read-only token): a live tap of the
 * service's requests, as NDJSON (one JSON message a line; blank lines keep it alive): first
 * `{"type":"armed","sidecars":N}` once every sidecar of the service holds the tap (handed with
 * the answer to one telemetry report, confirmed by the next: within two report intervals), then
 * `{"type":"request",…}` per request a sidecar sampled (src/telemetry/tap.ts). The stream
 * lasts until the client goes. Reports reach every replica through the store, so the events
 * of a sidecar reporting to another replica arrive too; that sidecar is handed the tap only by
 * a replica that holds a stream (the filters are kept per replica, in memory).
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { serviceNameSchema } from '../../registry/schema.js';
import type { TelemetryCollector } from '../../telemetry/collector.js';
import type { TapFilter } from '../../telemetry/snapshot.js';
import { TapHub } from '../../telemetry/tap.js';
import { parseOrThrow } from '../../util/validation.js';
import { access } from './auth.js';

const KEEP_ALIVE_MS = 15_000;
const METHOD = /^[A-Z]{1,32}$/;

interface TapQuery { service?: string; path?: string; method?: string }

/** The hub the report route answers from (telemetry.ts) and the stream route. */
export function tapHub(collector: TelemetryCollector): TapHub {
  const hub = new TapHub((service) => collector.latest().filter((s) => s.service === service).map((s) => s.id));
  collector.onTap((service, id, events) => hub.deliver(service, id, events));
  collector.subscribe(() => hub.refresh());
  return hub;
}

function parseFilter(query: TapQuery): { service: string; filter: TapFilter } {
  if (query.service === undefined) {
    throw new TrellisError(ErrorCodes.VALIDATION, 'service is required: /v1/tap?service=NAME (the service whose requests to show)', { field: 'service' });
  }
  const service = parseOrThrow(serviceNameSchema, query.service, 'service');
  const filter: TapFilter = {};
  if (query.path !== undefined) {
    if (!query.path.startsWith('/') || query.path.length > 2_048) throw new TrellisError(ErrorCodes.VALIDATION, `path must be a path prefix starting with / such as /orders (got ${JSON.stringify(query.path).slice(0, 80)})`, { field: 'path' });
    filter.path = query.path;
  }
  if (query.method !== undefined) {
    const method = query.method.toUpperCase();
    if (!METHOD.test(method)) throw new TrellisError(ErrorCodes.VALIDATION, `method must be an HTTP method such as GET (got ${JSON.stringify(query.method).slice(0, 40)})`, { field: 'method' });
    filter.method = method;
  }
  return { service, filter };
}

export function tapRoutes(app: FastifyInstance, hub: TapHub): void {
  app.get<{ Querystring: TapQuery }>('/v1/tap', access('observe'), async (request, reply) => {
    const { service, filter } = parseFilter(request.query);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    const write = (message: unknown): void => {
      if (!res.destroyed && res.writableLength < 4 * 1024 * 1024) res.write(`${JSON.stringify(message)}\n`);
    };
    const close = hub.open({
      service,
      filter,
      onEvent: (instance, event) => write({ type: 'request', instance, ...event }),
      onArmed: (sidecars) => write({ type: 'armed', sidecars }),
    });
    const keepAlive = setInterval(() => { if (!res.destroyed) res.write('\n'); }, KEEP_ALIVE_MS);
    keepAlive.unref();
    res.on('close', () => {
      clearInterval(keepAlive);
      close();
    });
  });
}
