/**
 * GET /v1/services/:service/instances/:id/presence — a registered sidecar's long-lived
 * stream (NDJSON: one `{"type":"present"}` line, then a blank keep-alive line now and then).
 * It carries nothing else: its dropping is the signal (src/health/presence.ts). Only the
 * instance's own sidecar (or the admin) may hold it: opening it can restore a critical check.
 */
import type { FastifyInstance } from 'fastify';
import type { PresenceTracker } from '../../health/presence.js';
import { access } from './auth.js';

interface InstanceParams { service: string; id: string }

export function presenceRoutes(app: FastifyInstance, tracker: PresenceTracker, keepAliveMs = 15_000): void {
  app.get<{ Params: InstanceParams }>('/v1/services/:service/instances/:id/presence', access('instance'), async (request, reply) => {
    const { service, id } = request.params;
    const token = await tracker.opened(service, id);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write('{"type":"present"}\n');
    const keepAlive = setInterval(() => res.write('\n'), keepAliveMs);
    keepAlive.unref();
    res.on('close', () => {
      clearInterval(keepAlive);
      tracker.dropped(service, id, token);
    });
  });
}
