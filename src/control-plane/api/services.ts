/**
 * /v1/services — list (from the registry's aggregates), one service's counts, register,
 * deregister, heartbeat, read instances (paged with ?limit=&cursor=, see paging.ts), and the
 * bulk calls: many registrations or heartbeats of one service in one request.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { MAX_PAGE_LIMIT, type BulkOutcome, type Page, type Registry } from '../../registry/registry.js';
import { access } from './auth.js';
import { encodeCursor, parsePage, type PageQuery, type PageRequest } from './paging.js';
import { DEFAULT_RATE_LIMIT, rateLimited, RateLimiter } from './rate-limit.js';

interface ServiceParams { service: string }
interface InstanceParams { service: string; id: string }

/** Items per bulk call at most. */
export const MAX_BULK_ITEMS = 1_000;
/** A bulk body of MAX_BULK_ITEMS registrations with metadata. */
const BULK_BODY_LIMIT = 8 * 1024 * 1024;

function booleanQuery(value: unknown, field: string): boolean {
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === '' || value === 'true' || value === '1') return true;
  throw new TrellisError(ErrorCodes.VALIDATION, `${field} must be "true" or "false" (got ${JSON.stringify(value)})`, { field });
}

/** The array under `field` of a bulk body, 1 to MAX_BULK_ITEMS long. */
function bulkItems(body: unknown, field: string): unknown[] {
  const items = (body as Record<string, unknown> | null | undefined)?.[field];
  if (!Array.isArray(items) || items.length === 0 || items.length > MAX_BULK_ITEMS) {
    throw new TrellisError(ErrorCodes.VALIDATION, `the body must be {"${field}": [...]} with 1 to ${MAX_BULK_ITEMS} entries`, { field });
  }
  return items;
}

function outcomes<T extends object>(results: ReadonlyArray<BulkOutcome<T>>, pick: (result: T) => object): object {
  return {
    results: results.map((r) => (r.ok ? { ok: true, ...pick(r) } : { ok: false, error: r.error.toJSON().error })),
    failed: results.filter((r) => !r.ok).length,
  };
}

function pageOf(page: PageRequest): Page {
  return { limit: page.limit, ...(page.after === undefined ? {} : { after: page.after }) };
}

/**
 * A page as JSON text: {…head, "revision", "instances": [...], "cursor"} with the instances'
 * stored JSON spliced in as they are (see Registry.pageInstancesJson).
 */
function sendPage(reply: FastifyReply, head: Record<string, string>, result: { instances: string[]; revision: number; next: string | undefined }, firstRevision: number | undefined): FastifyReply {
  const revision = firstRevision ?? result.revision;
  const cursor = result.next === undefined ? null : encodeCursor(result.next, revision);
  const start = JSON.stringify({ ...head, revision, cursor });
  const body = `${start.slice(0, -1)},"instances":[${result.instances.join(',')}]}`;
  return reply.header('content-type', 'application/json; charset=utf-8').send(body);
}

/** Entries of a bulk body (the rate limiter charges one per entry; the route validates the body). */
function entries(body: unknown, field: string): number {
  const items = (body as Record<string, unknown> | null | undefined)?.[field];
  return Array.isArray(items) ? Math.max(1, items.length) : 1;
}

/** `limiter`: the per-token limit on registrations and heartbeats (shared with the keep-alive stream). */
export function servicesRoutes(app: FastifyInstance, registry: Registry, limiter: RateLimiter = new RateLimiter(DEFAULT_RATE_LIMIT)): void {
  const one = { preHandler: rateLimited(limiter) };
  const bulk = (field: string) => ({ preHandler: rateLimited(limiter, (request) => entries(request.body, field)) });

  app.get('/v1/services', access('discovery'), async () => registry.listServices());

  app.get<{ Params: ServiceParams }>('/v1/services/:service', access('discovery'), async (request) => registry.serviceSummary(request.params.service));

  app.get<{ Params: ServiceParams; Querystring: { healthy?: string } & PageQuery }>('/v1/services/:service/instances', access('discovery'), async (request, reply) => {
    const healthyOnly = booleanQuery(request.query.healthy, 'healthy');
    const { service } = request.params;
    const page = parsePage(request.query);
    if (page === undefined) {
      const { instances, revision } = await registry.listInstances(service, { healthyOnly });
      return { service, revision, instances, cursor: null };
    }
    return sendPage(reply, { service }, await registry.pageInstancesJson(service, pageOf(page), { healthyOnly }), page.revision);
  });

  /** Every instance of every service, a page at a time (a limit or cursor is required). */
  app.get<{ Querystring: { healthy?: string } & PageQuery }>('/v1/instances', access('discovery'), async (request, reply) => {
    const healthyOnly = booleanQuery(request.query.healthy, 'healthy');
    const page = parsePage({ limit: request.query.limit ?? String(MAX_PAGE_LIMIT), ...(request.query.cursor === undefined ? {} : { cursor: request.query.cursor }) })
      ?? { limit: MAX_PAGE_LIMIT, after: undefined, revision: undefined };
    return sendPage(reply, {}, await registry.pageInstancesJson(undefined, pageOf(page), { healthyOnly }), page.revision);
  });

  app.get<{ Params: InstanceParams }>('/v1/services/:service/instances/:id', access('discovery'), async (request) => {
    const instance = await registry.get(request.params.service, request.params.id);
    return { instance, revision: instance.revision };
  });

  app.put<{ Params: InstanceParams }>('/v1/services/:service/instances/:id', { ...one, ...access('instance') }, async (request, reply) => {
    const { instance, created } = await registry.register(request.params.service, request.params.id, request.body);
    return reply.code(created ? 201 : 200).send({ instance, revision: instance.revision });
  });

  /** Bulk registration: {"instances": [{"id": …, …registration body}, …]}; results per entry, in order. */
  app.put<{ Params: ServiceParams }>('/v1/services/:service/instances', { bodyLimit: BULK_BODY_LIMIT, ...bulk('instances'), ...access('instance') }, async (request) => {
    const { service } = request.params;
    const items = bulkItems(request.body, 'instances').map((entry) => {
      const { id, ...body } = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
      return { service, id: typeof id === 'string' ? id : '', body };
    });
    const results = await registry.registerMany(items);
    return outcomes(results, (r) => ({ id: r.instance.id, created: r.created, revision: r.instance.revision }));
  });

  /** Bulk heartbeats: {"ids": ["a", "b", …]}; results per id, in order. */
  app.put<{ Params: ServiceParams }>('/v1/services/:service/heartbeats', { bodyLimit: BULK_BODY_LIMIT, ...bulk('ids'), ...access('instance') }, async (request) => {
    const { service } = request.params;
    const ids = bulkItems(request.body, 'ids').map((id) => (typeof id === 'string' ? id : ''));
    const results = await registry.heartbeatMany(ids.map((id) => ({ service, id })));
    return outcomes(results, (r) => ({ status: r.status, ttlMs: r.ttlMs }));
  });

  app.delete<{ Params: InstanceParams }>('/v1/services/:service/instances/:id', access('instance'), async (request) =>
    registry.deregister(request.params.service, request.params.id));

  app.put<{ Params: InstanceParams }>('/v1/services/:service/instances/:id/heartbeat', { ...one, ...access('instance') }, async (request) =>
    registry.heartbeat(request.params.service, request.params.id));
}
