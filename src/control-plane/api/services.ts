/** /v1/services — list, register, deregister, heartbeat, read instances. */
import type { FastifyInstance } from 'fastify';
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { Registry } from '../../registry/registry.js';

interface ServiceParams { service: string }
interface InstanceParams { service: string; id: string }

function booleanQuery(value: unknown, field: string): boolean {
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === '' || value === 'true' || value === '1') return true;
  throw new TrellisError(ErrorCodes.VALIDATION, `${field} must be "true" or "false" (got ${JSON.stringify(value)})`, { field });
}

export function servicesRoutes(app: FastifyInstance, registry: Registry): void {
  app.get('/v1/services', async () => registry.listServices());

  app.get<{ Params: ServiceParams; Querystring: { healthy?: string } }>('/v1/services/:service/instances', async (request) => {
    const healthyOnly = booleanQuery(request.query.healthy, 'healthy');
    const { instances, revision } = await registry.listInstances(request.params.service, { healthyOnly });
    return { service: request.params.service, revision, instances };
  });

  app.get<{ Params: InstanceParams }>('/v1/services/:service/instances/:id', async (request) => {
    const instance = await registry.get(request.params.service, request.params.id);
    return { instance, revision: instance.revision };
  });

  app.put<{ Params: InstanceParams }>('/v1/services/:service/instances/:id', async (request, reply) => {
    const { instance, created } = await registry.register(request.params.service, request.params.id, request.body);
    return reply.code(created ? 201 : 200).send({ instance, revision: instance.revision });
  });

  app.delete<{ Params: InstanceParams }>('/v1/services/:service/instances/:id', async (request) =>
    registry.deregister(request.params.service, request.params.id));

  app.put<{ Params: InstanceParams }>('/v1/services/:service/instances/:id/heartbeat', async (request) =>
    registry.heartbeat(request.params.service, request.params.id));
}
