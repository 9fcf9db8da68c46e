/**
 * /healthz and /v1/status: is the control plane up, and where is its store. A store that cannot
 * answer (etcd lost or without quorum) makes both answer 503 TRELLIS_ERR_STORE_UNAVAILABLE.
 */
import type { FastifyInstance } from 'fastify';
import type { Registry } from '../../registry/registry.js';
import { VERSION } from '../../version.js';
import { access } from './auth.js';

export interface ReplicaStatus {
  id: string;
  members: Array<{ id: string; url: string; since: string }>;
  /** Active checks this replica runs now. */
  checks: number;
}

/** The xDS server's address and counters, when it runs. */
export interface XdsStatus {
  address: string;
  streams: number;
  pushes: number;
  acks: number;
  nacks: number;
  refused: number;
}

export function statusRoutes(app: FastifyInstance, registry: Registry, startedAt: number, replica?: () => ReplicaStatus | undefined, xds?: () => XdsStatus | undefined): void {
  app.get('/healthz', access('open'), async () => {
    await registry.store.status();
    return { status: 'ok' };
  });
  app.get('/v1/status', access('open'), async () => {
    const store = await registry.store.status();
    return { version: VERSION, uptimeMs: Date.now() - startedAt, store, revision: store.revision, replica: replica?.() ?? null, xds: xds?.() ?? null };
  });
}
