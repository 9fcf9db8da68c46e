/**
 * The TTL side of health (the seed's heartbeat model): watches /heartbeats/, and when a
 * heartbeat key disappears because its lease expired, marks the instance's ttl check
 * critical — a status change every registry watcher sees. Each (re)start reconciles too:
 * an instance whose heartbeat key is gone is marked critical. Leases expire on the store's
 * clock (the embedded store's `now` option); the monitor's own restarts run on `clock`.
 */
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../core/clock.js';
import { HEARTBEATS_PREFIX, heartbeatKey, parseHeartbeatKey } from '../registry/keys.js';
import type { Registry } from '../registry/registry.js';
import { follow, type Follower } from '../util/follow.js';

export async function startTtlMonitor(registry: Registry, logger: Logger, clock: Clock = systemClock): Promise<Follower> {
  const store = registry.store;
  const expired = (service: string, id: string, lease: string): void => {
    registry.heartbeatExpired(service, id, lease).then((instance) => {
      if (instance?.status === 'critical') logger.info({ service, id }, 'heartbeat ttl expired: instance critical');
    }, (err: unknown) => logger.error({ err, service, id }, 'could not mark a missed heartbeat'));
  };

  return follow('ttl-monitor', logger, async (fail) => {
    const revision = await registry.currentRevision();
    // Watch first, then reconcile: anything expiring in between is seen by one or the
    // other, and marking critical is idempotent.
    const watcher = await store.watch(HEARTBEATS_PREFIX, { afterRevision: revision }, {
      onEvent: (event) => {
        if (event.type !== 'delete' || event.prevValue === undefined) return;
        const ref = parseHeartbeatKey(event.key);
        if (ref !== undefined) expired(ref.service, ref.id, event.prevValue);
      },
      onError: fail,
    });
    const { instances } = await registry.listAll();
    for (const instance of instances) {
      if (instance.lease === null) continue;
      const { kv } = await store.get(heartbeatKey(instance.service, instance.id));
      if (kv?.value !== instance.lease) expired(instance.service, instance.id, instance.lease);
    }
    return watcher;
  }, 1_000, clock);
}
