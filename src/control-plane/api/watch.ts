/**
 * GET /v1/watch — a stream of registry changes that resumes from a revision (the stream
 * itself, its formats and keep-alives: event-stream.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { Registry } from '../../registry/registry.js';
import type { RegistryEvent } from '../../registry/types.js';
import { access } from './auth.js';
import { streamEvents, type EventStreamOptions } from './event-stream.js';

export type WatchRouteOptions = EventStreamOptions;

interface WatchQuery { service?: string; after?: string; format?: string }

export function watchRoutes(app: FastifyInstance, registry: Registry, options: WatchRouteOptions = {}): void {
  app.get<{ Querystring: WatchQuery }>('/v1/watch', access('discovery'), async (request, reply) => {
    const { service } = request.query;
    await streamEvents<RegistryEvent>(request, reply, options, () => registry.currentRevision(),
      (afterRevision, sink) => registry.watch({ afterRevision, ...(service === undefined ? {} : { service }) }, sink));
  });
}
