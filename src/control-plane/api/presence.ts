/**
 * GET /v1/services/:service/instances/:id/presence — a registered sidecar's long-lived
 * stream (NDJSON: one `{"type":"present"}` line, then a blank keep-alive line now and then).
 * It carries nothing else: its dropping is the signal (src/health/presence.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { PresenceTracker } from '../../health/presence.js';

interface InstanceParams { service: string; id: string }

export function presenceRoutes(app: FastifyInstance, tracker: PresenceTracker, keepAliveMs = 15_000): void {
  app.get<{ Params: InstanceParams }>('/v1/services/:service/instances/:id/presence', async (request, reply) => {
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
