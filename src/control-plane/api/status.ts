/** /healthz and /v1/status: is the control plane up, and where is its store. */
import type { FastifyInstance } from 'fastify';
import type { Registry } from '../../registry/registry.js';
import { VERSION } from '../../version.js';

export function statusRoutes(app: FastifyInstance, registry: Registry, startedAt: number): void {
  app.get('/healthz', async () => {
    await registry.store.status();
    return { status: 'ok' };
  });
  app.get('/v1/status', async () => {
    const store = await registry.store.status();
    return { version: VERSION, uptimeMs: Date.now() - startedAt, store, revision: store.revision };
  });
}
