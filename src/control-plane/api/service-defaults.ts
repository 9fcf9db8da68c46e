/**
 * /v1/service-defaults — per-service resilience defaults (timeouts, retries, circuit
 * breaker, outlier detection, load balancer): list, read, create or replace, apply several,
 * delete; /v1/watch/service-defaults streams changes for the services a sidecar calls.
 */
import type { FastifyInstance } from 'fastify';
import { parseServiceList, type ServiceDefaultsStore } from '../service-defaults/store.js';
import type { ServiceDefaultsEvent } from '../../core/service-defaults.js';
import { access } from './auth.js';
import { streamEvents, type EventStreamOptions } from './event-stream.js';

interface ServiceParams { service: string }

/** Reads and watches are discovery (sidecars follow them), writes need the admin token. */
export function serviceDefaultsRoutes(app: FastifyInstance, defaults: ServiceDefaultsStore, watch: EventStreamOptions = {}): void {
  const adminCall = access('admin');
  app.get<{ Querystring: { service?: string } }>('/v1/service-defaults', access('discovery'), async (request) =>
    defaults.list(parseServiceList(request.query.service)));

  app.put('/v1/service-defaults', adminCall, async (request) => defaults.apply(request.body));

  app.get<{ Params: ServiceParams }>('/v1/service-defaults/:service', access('discovery'), async (request) => {
    const serviceDefaults = await defaults.get(request.params.service);
    return { serviceDefaults, revision: serviceDefaults.revision };
  });

  app.put<{ Params: ServiceParams }>('/v1/service-defaults/:service', adminCall, async (request, reply) => {
    const { serviceDefaults, created } = await defaults.put(request.params.service, request.body);
    return reply.code(created ? 201 : 200).send({ serviceDefaults, revision: serviceDefaults.revision });
  });

  app.delete<{ Params: ServiceParams }>('/v1/service-defaults/:service', adminCall, async (request) => defaults.delete(request.params.service));

  app.get<{ Querystring: { service?: string; after?: string; format?: string } }>('/v1/watch/service-defaults', access('discovery'), async (request, reply) => {
    const services = parseServiceList(request.query.service);
    await streamEvents<ServiceDefaultsEvent>(request, reply, watch, async () => (await defaults.list(services)).revision,
      (afterRevision, sink) => defaults.watch({ afterRevision, ...(services === undefined ? {} : { services }) }, sink));
  });
}
