/**
 * Instances that recently left the registry (deregistered — e.g. their app died and the
 * sidecar drained — or reaped), kept for a while so that the dashboard can show a dead
 * replica in red instead of letting it silently vanish. Forgotten when the instance
 * registers again, or after `keepMs`.
 */
import type { Logger } from 'pino';
import type { Registry } from '../registry/registry.js';
import type { InstanceRecord } from '../registry/types.js';
import { follow, type Follower } from '../util/follow.js';

export const DEPARTED_KEEP_MS = 2 * 60_000;

export interface Departure {
  readonly instance: InstanceRecord;
  /** When it left (epoch ms). */
  readonly at: number;
}

export class Departures {
  readonly #gone = new Map<string, Departure>();
  readonly #keepMs: number;
  readonly #now: () => number;
  #follower: Follower | undefined;

  private constructor(keepMs: number, now: () => number) {
    this.#keepMs = keepMs;
    this.#now = now;
  }

  static async start(registry: Registry, logger: Logger, onChange: () => void, keepMs = DEPARTED_KEEP_MS, now: () => number = Date.now): Promise<Departures> {
    const departures = new Departures(keepMs, now);
    departures.#follower = await follow('departures', logger, async (fail) => {
      const { revision } = await registry.listAll();
      return registry.watch({ afterRevision: revision }, {
        onEvent: (event) => {
          const key = `${event.service}/${event.id}`;
          if (event.type === 'deregistered') departures.#gone.set(key, { instance: event.instance, at: departures.#now() });
          else departures.#gone.delete(key);
          onChange();
        },
        onError: fail,
      });
    });
    return departures;
  }

  list(): Departure[] {
    const cutoff = this.#now() - this.#keepMs;
    for (const [key, d] of this.#gone) if (d.at < cutoff) this.#gone.delete(key);
    return [...this.#gone.values()];
  }

  close(): void {
    this.#follower?.close();
  }
}
