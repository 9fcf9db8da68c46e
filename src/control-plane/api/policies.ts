/**
 * /v1/policies — authorization policies: list, read, create or replace, apply several at
 * once, delete; /v1/policies/check evaluates a hypothetical request and explains the
 * decision; /v1/watch/policies streams changes to the policies of one service (sidecars).
 */
import type { FastifyInstance } from 'fastify';
import type { PolicyEvent, PolicyStore } from '../../security/authz/store.js';
import { access } from './auth.js';
import { streamEvents, type EventStreamOptions } from './event-stream.js';

interface NameParams { name: string }

/** Reads and watches are discovery (sidecars follow their policies), `check` is observation, writes need the admin token. */
export function policyRoutes(app: FastifyInstance, policies: PolicyStore, watch: EventStreamOptions = {}): void {
  const adminCall = access('admin');
  app.get<{ Querystring: { service?: string } }>('/v1/policies', access('discovery'), async (request) => policies.list(request.query.service));

  app.put('/v1/policies', adminCall, async (request) => policies.apply(request.body));

  app.post('/v1/policies/check', access('observe'), async (request) => policies.check(request.body));

  app.get<{ Params: NameParams }>('/v1/policies/:name', access('discovery'), async (request) => {
    const policy = await policies.get(request.params.name);
    return { policy, revision: policy.revision };
  });

  app.put<{ Params: NameParams }>('/v1/policies/:name', adminCall, async (request, reply) => {
    const { policy, created } = await policies.put(request.params.name, request.body);
    return reply.code(created ? 201 : 200).send({ policy, revision: policy.revision });
  });

  app.delete<{ Params: NameParams }>('/v1/policies/:name', adminCall, async (request) => policies.delete(request.params.name));

  app.get<{ Querystring: { service?: string; after?: string; format?: string } }>('/v1/watch/policies', access('discovery'), async (request, reply) => {
    const { service } = request.query;
    await streamEvents<PolicyEvent>(request, reply, watch, async () => (await policies.list(service)).revision,
      (afterRevision, sink) => policies.watch({ afterRevision, ...(service === undefined ? {} : { service }) }, sink));
  });
}
