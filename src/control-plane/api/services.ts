/** /v1/services — list, register, deregister, heartbeat, read instances. */
import type { FastifyInstance } from 'fastify';
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { Registry } from '../../registry/registry.js';
import { access } from './auth.js';

interface ServiceParams { service: string }
interface InstanceParams { service: string; id: string }

function booleanQuery(value: unknown, field: string): boolean {
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === '' || value === 'true' || value === '1') return true;
  throw new TrellisError(ErrorCodes.VALIDATION, `${field} must be "true" or "false" (got ${JSON.stringify(value)})`, { field });
}

export function servicesRoutes(app: FastifyInstance, registry: Registry): void {
  app.get('/v1/services', access('discovery'), async () => registry.listServices());

  app.get<{ Params: ServiceParams; Querystring: { healthy?: string } }>('/v1/services/:service/instances', access('discovery'), async (request) => {
    const healthyOnly = booleanQuery(request.query.healthy, 'healthy');
    const { instances, revision } = await registry.listInstances(request.params.service, { healthyOnly });
    return { service: request.params.service, revision, instances };
  });

  app.get<{ Params: InstanceParams }>('/v1/services/:service/instances/:id', access('discovery'), async (request) => {
    const instance = await registry.get(request.params.service, request.params.id);
    return { instance, revision: instance.revision };
  });

  app.put<{ Params: InstanceParams }>('/v1/services/:service/instances/:id', access('instance'), async (request, reply) => {
    const { instance, created } = await registry.register(request.params.service, request.params.id, request.body);
    return reply.code(created ? 201 : 200).send({ instance, revision: instance.revision });
  });

  app.delete<{ Params: InstanceParams }>('/v1/services/:service/instances/:id', access('instance'), async (request) =>
    registry.deregister(request.params.service, request.params.id));

  app.put<{ Params: InstanceParams }>('/v1/services/:service/instances/:id/heartbeat', access('instance'), async (request) =>
    registry.heartbeat(request.params.service, request.params.id));
}
