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
import { walkPrefix } from '../store/pages.js';
import { follow, type Follower } from '../util/follow.js';

/** Expiries marked at once at most; the rest wait their turn, so a storm never floods the event loop. */
const MAX_IN_FLIGHT = 32;

export async function startTtlMonitor(registry: Registry, logger: Logger, clock: Clock = systemClock): Promise<Follower> {
  const store = registry.store;
  const queue: Array<{ service: string; id: string; lease: string }> = [];
  let inFlight = 0;
  let storm = 0;
  const next = (): void => {
    while (inFlight < MAX_IN_FLIGHT) {
      const item = queue.shift();
      if (item === undefined) break;
      inFlight += 1;
      const { service, id, lease } = item;
      registry.heartbeatExpired(service, id, lease).then((instance) => {
        if (instance?.status !== 'critical') return;
        // One line per instance, except in a storm: then one line per 1,000.
        storm += 1;
        if (queue.length < MAX_IN_FLIGHT) logger.info({ service, id }, 'heartbeat ttl expired: instance critical');
        else if (storm % 1_000 === 0) logger.info({ marked: storm, waiting: queue.length }, 'heartbeat ttls expiring: instances marked critical');
      }, (err: unknown) => logger.error({ err, service, id }, 'could not mark a missed heartbeat'))
        .finally(() => {
          inFlight -= 1;
          if (queue.length === 0 && inFlight === 0) storm = 0;
          next();
        });
    }
  };
  const expired = (service: string, id: string, lease: string): void => {
    queue.push({ service, id, lease });
    next();
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
    // Both walked a page at a time (never blocking), instances first (a heartbeat key read
    // later is at least as new, and a stale lease is ignored by heartbeatExpired); compared in memory.
    const { instances } = await registry.listAll();
    const heartbeats = new Map<string, string>();
    for await (const page of walkPrefix(store, HEARTBEATS_PREFIX)) for (const kv of page.kvs) heartbeats.set(kv.key, kv.value);
    for (const instance of instances) {
      if (instance.lease === null) continue;
      if (heartbeats.get(heartbeatKey(instance.service, instance.id)) !== instance.lease) expired(instance.service, instance.id, instance.lease);
    }
    return watcher;
  }, 1_000, clock);
}
