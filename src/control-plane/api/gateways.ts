/** /v1/gateways — gateway resources (src/core/gateway.ts): list, read, apply several (validated whole: all or nothing), delete. */
import type { FastifyInstance } from 'fastify';
import type { GatewayStore } from '../gateways/store.js';
import { access } from './auth.js';

/** Reads are discovery (a gateway reads its own), writes need the admin token. */
export function gatewayRoutes(app: FastifyInstance, gateways: GatewayStore): void {
  app.get('/v1/gateways', access('discovery'), async () => gateways.list());
  app.put('/v1/gateways', access('admin'), async (request) => gateways.apply(request.body));
  app.get<{ Params: { name: string } }>('/v1/gateways/:name', access('discovery'), async (request) => {
    const gateway = await gateways.get(request.params.name);
    return { gateway, revision: gateway.revision };
  });
  app.delete<{ Params: { name: string } }>('/v1/gateways/:name', access('admin'), async (request) => gateways.delete(request.params.name));
}
