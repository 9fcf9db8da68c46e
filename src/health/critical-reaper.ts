/**
 * Deregisters instances that stayed critical longer than their deregisterCriticalAfter.
 * It follows the registry watch and keeps only the critical instances in memory, so a
 * sweep costs O(critical instances), not a scan of the whole registry.
 */
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../core/clock.js';
import type { Registry } from '../registry/registry.js';
import type { InstanceRecord } from '../registry/types.js';
import { follow, type Follower } from '../util/follow.js';

interface Candidate {
  service: string;
  id: string;
  revision: number;
  lease: string | null;
  /** Epoch ms after which it is deregistered. */
  deadline: number;
}

export interface CriticalReaper {
  close(): void;
}

/** Sweeps every `everyMs` on `clock`; an instance goes once the clock passes criticalSince + deregisterCriticalAfter. */
export async function startCriticalReaper(registry: Registry, logger: Logger, everyMs = 250, clock: Clock = systemClock): Promise<CriticalReaper> {
  const candidates = new Map<string, Candidate>();
  const track = (instance: InstanceRecord, revision: number): void => {
    const ref = `${instance.service}/${instance.id}`;
    if (instance.criticalSince === null) { candidates.delete(ref); return; }
    candidates.set(ref, {
      service: instance.service, id: instance.id, revision, lease: instance.lease,
      deadline: Date.parse(instance.criticalSince) + instance.deregisterCriticalAfterMs,
    });
  };

  const follower: Follower = await follow('critical-reaper', logger, async (fail) => {
    const { instances, revision } = await registry.listAll();
    candidates.clear();
    for (const instance of instances) track(instance, instance.revision);
    return registry.watch({ afterRevision: revision }, {
      onEvent: (event) => {
        if (event.type === 'deregistered') candidates.delete(`${event.service}/${event.id}`);
        else track(event.instance, event.revision);
      },
      onError: fail,
    });
  }, 1_000, clock);

  let sweeping = false;
  const sweep = async (): Promise<void> => {
    const t = clock.now();
    for (const [ref, c] of candidates) {
      if (c.deadline > t) continue;
      candidates.delete(ref);
      if (await registry.deregisterIfUnchanged(c.service, c.id, c.revision, c.lease)) {
        logger.info({ service: c.service, id: c.id }, 'deregistered: critical longer than deregisterCriticalAfter');
      }
    }
  };
  const timer = clock.setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sweep().catch((err: unknown) => logger.error({ err }, 'critical reaper failed')).finally(() => { sweeping = false; });
  }, everyMs);
  return {
    close() {
      timer.cancel();
      follower.close();
    },
  };
}
