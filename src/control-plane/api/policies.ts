/**
 * /v1/policies — authorization policies: list, read, create or replace, apply several at
 * once, delete; /v1/policies/check evaluates a hypothetical request and explains the
 * decision; /v1/watch/policies streams changes to the policies of one service (sidecars).
 */
import type { FastifyInstance } from 'fastify';
import type { PolicyEvent, PolicyStore } from '../../security/authz/store.js';
import type { AdminToken } from '../../security/tokens/admin-token.js';
import { adminOnly } from './auth.js';
import { streamEvents, type EventStreamOptions } from './event-stream.js';

interface NameParams { name: string }

/** Reads and `check` are open; writes need the admin token. */
export function policyRoutes(app: FastifyInstance, policies: PolicyStore, admin: AdminToken, watch: EventStreamOptions = {}): void {
  const adminCall = adminOnly(admin);
  app.get<{ Querystring: { service?: string } }>('/v1/policies', async (request) => policies.list(request.query.service));

  app.put('/v1/policies', adminCall, async (request) => policies.apply(request.body));

  app.post('/v1/policies/check', async (request) => policies.check(request.body));

  app.get<{ Params: NameParams }>('/v1/policies/:name', async (request) => {
    const policy = await policies.get(request.params.name);
    return { policy, revision: policy.revision };
  });

  app.put<{ Params: NameParams }>('/v1/policies/:name', adminCall, async (request, reply) => {
    const { policy, created } = await policies.put(request.params.name, request.body);
    return reply.code(created ? 201 : 200).send({ policy, revision: policy.revision });
  });

  app.delete<{ Params: NameParams }>('/v1/policies/:name', adminCall, async (request) => policies.delete(request.params.name));

  app.get<{ Querystring: { service?: string; after?: string; format?: string } }>('/v1/watch/policies', async (request, reply) => {
    const { service } = request.query;
    await streamEvents<PolicyEvent>(request, reply, watch, async () => (await policies.list(service)).revision,
      (afterRevision, sink) => policies.watch({ afterRevision, ...(service === undefined ? {} : { service }) }, sink));
  });
}
