/**
 * A failure detector on the sidecars' presence streams: every registered sidecar holds one
 * long-lived connection to a control-plane replica (GET /v1/services/:service/instances/:id/presence).
 * When that connection drops while the instance is still registered (a sidecar that drains
 * deregisters first), and the sidecar has not opened a new one — to any replica — within
 * {@link DEFAULT_GRACE_MS}, the replica that held it marks the instance's TTL check critical
 * at once instead of when its heartbeat lease runs out (a kill -9 of app and sidecar shows in
 * about the grace, not the TTL). The next heartbeat, or the sidecar's next presence stream,
 * makes the check pass again.
 *
 * Who holds a sidecar's stream is written to the store (`/presence/<service>/<id>` → a token
 * per stream), so with several replicas the one whose stream dropped decides, and only if no
 * newer stream replaced its own. A replica that shuts down stops deciding first (its streams
 * close with it; the sidecars reconnect elsewhere), and a restarted replica holds no streams:
 * neither flaps a live instance.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../core/clock.js';
import { ErrorCodes, TrellisError } from '../errors.js';
import { TTL_CHECK_NAME } from '../registry/record.js';
import type { Registry } from '../registry/registry.js';
import type { KvStore } from '../store/types.js';

export const PRESENCE_PREFIX = '/presence/';
/** How long a dropped stream may take to come back before the instance is marked critical. */
export const DEFAULT_GRACE_MS = 500;
/** The TTL check's output while a sidecar's stream is gone (how a reconnect recognises it). */
export const PRESENCE_LOST_OUTPUT = 'its sidecar\'s connection to the control plane dropped without a deregistration (the sidecar is gone)';

export function presenceKey(service: string, id: string): string {
  return `${PRESENCE_PREFIX}${service}/${id}`;
}

export interface PresenceTracker {
  /** A sidecar opened its stream: take it over. @throws INSTANCE_NOT_FOUND for an unregistered instance. */
  opened(service: string, id: string): Promise<string>;
  /** The stream `token` closed. */
  dropped(service: string, id: string, token: string): void;
  /** Stop deciding (before the API closes its streams). */
  close(): void;
}

export function createPresenceTracker(store: KvStore, registry: Registry, logger: Logger, graceMs = DEFAULT_GRACE_MS, clock: Clock = systemClock): PresenceTracker {
  const timers = new Set<Timer>();
  let closed = false;

  const decide = async (service: string, id: string, token: string): Promise<void> => {
    const { kv } = await store.get(presenceKey(service, id));
    if (kv === undefined || kv.value !== token) return; // a newer stream took over
    try {
      await store.delete(presenceKey(service, id), { ifModRevision: kv.modRevision });
    } catch (err) {
      if (err instanceof TrellisError && err.code === ErrorCodes.CONFLICT) return; // taken over meanwhile
      throw err;
    }
    const instance = await registry.setCheckStatus(service, id, TTL_CHECK_NAME, 'critical', PRESENCE_LOST_OUTPUT);
    if (instance !== undefined) logger.warn({ service, id }, 'sidecar connection dropped without a deregistration: instance marked critical');
  };

  return {
    async opened(service, id) {
      const instance = await registry.get(service, id);
      const token = randomUUID();
      await store.put(presenceKey(service, id), token);
      const ttl = instance.checks.find((c) => c.name === TTL_CHECK_NAME);
      if (ttl?.status === 'critical' && ttl.output === PRESENCE_LOST_OUTPUT) {
        await registry.setCheckStatus(service, id, TTL_CHECK_NAME, 'passing', 'its sidecar reconnected to the control plane');
      }
      return token;
    },
    dropped(service, id, token) {
      if (closed) return;
      const timer = clock.setTimeout(() => {
        timers.delete(timer);
        if (closed) return;
        decide(service, id, token).catch((err: unknown) => logger.error({ err, service, id }, 'presence: could not mark a dropped sidecar'));
      }, graceMs);
      timers.add(timer);
    },
    close() {
      closed = true;
      for (const timer of timers) timer.cancel();
      timers.clear();
    },
  };
}
