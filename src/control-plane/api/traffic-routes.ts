/**
 * /v1/traffic-routes — traffic routes (/v1/routes is the golden metrics per route) (src/core/route.ts): list (all, or those attached to some
 * services), read, apply several (validated whole: all or nothing), delete;
 * /v1/watch/traffic-routes streams changes for the services a sidecar calls.
 */
import type { FastifyInstance } from 'fastify';
import type { RouteEvent } from '../../core/route.js';
import { parseServiceList } from '../service-defaults/store.js';
import type { RouteStore } from '../routes/store.js';
import { access } from './auth.js';
import { streamEvents, type EventStreamOptions } from './event-stream.js';

/** Reads and watches are discovery (sidecars follow them), writes need the admin token. */
export function trafficRoutes(app: FastifyInstance, routes: RouteStore, watch: EventStreamOptions = {}): void {
  const adminCall = access('admin');
  app.get<{ Querystring: { service?: string } }>('/v1/traffic-routes', access('discovery'), async (request) => routes.list(parseServiceList(request.query.service)));

  app.put('/v1/traffic-routes', adminCall, async (request) => routes.apply(request.body));

  app.get<{ Params: { name: string } }>('/v1/traffic-routes/:name', access('discovery'), async (request) => {
    const route = await routes.get(request.params.name);
    return { route, revision: route.revision };
  });

  app.delete<{ Params: { name: string } }>('/v1/traffic-routes/:name', adminCall, async (request) => routes.delete(request.params.name));

  app.get<{ Querystring: { service?: string; after?: string; format?: string } }>('/v1/watch/traffic-routes', access('discovery'), async (request, reply) => {
    const services = parseServiceList(request.query.service);
    await streamEvents<RouteEvent>(request, reply, watch, async () => (await routes.list(services)).revision,
      (afterRevision, sink) => routes.watch({ afterRevision, ...(services === undefined ? {} : { services }) }, sink));
  });
}
