/**
 * The agent's copy of the control plane's service defaults for the services this sidecar
 * calls (one watch for all of them), kept current like the endpoint tables; the last known
 * defaults stay in force while the control plane is away.
 */
import type { ControlPlaneClient } from '../client/control-plane.js';
import type { ServiceDefaults, ServiceDefaultsEvent } from '../core/service-defaults.js';
import { FeedState, type Feed } from './follower.js';

export class UpstreamDefaults {
  readonly services: readonly string[];
  readonly sync: FeedState;
  #revision = 0;
  readonly #defaults = new Map<string, ServiceDefaults>();
  readonly #onChange: () => void;

  constructor(services: readonly string[], onChange: () => void) {
    this.services = services;
    this.#onChange = onChange;
    this.sync = new FeedState(onChange);
  }

  get revision(): number {
    return this.#revision;
  }

  /** The defaults of `service` in force; undefined when it has none. */
  get(service: string): ServiceDefaults | undefined {
    return this.#defaults.get(service);
  }

  /** Replace them all with a listing read at `revision`. */
  replace(entries: readonly ServiceDefaults[], revision: number): void {
    this.#defaults.clear();
    for (const entry of entries) if (this.services.includes(entry.service)) this.#defaults.set(entry.service, entry);
    this.#revision = revision;
    this.#onChange();
  }

  /** Apply one watch event; events at or below the revision were seen already. */
  apply(event: ServiceDefaultsEvent): void {
    if (event.revision <= this.#revision || !this.services.includes(event.service)) return;
    this.#revision = event.revision;
    if (event.type === 'delete') this.#defaults.delete(event.service);
    else this.#defaults.set(event.service, event.serviceDefaults);
    this.#onChange();
  }
}

/** The upstreams' service defaults as a Feed. */
export function serviceDefaultsFeed(client: ControlPlaneClient, defaults: UpstreamDefaults): Feed {
  return {
    get state() { return defaults.sync.value; },
    set state(state) { defaults.sync.value = state; },
    async resync() {
      const listing = await client.serviceDefaults(defaults.services);
      defaults.replace(listing.serviceDefaults, listing.revision);
      return listing.revision;
    },
    follow: (revision, signal) => client.watchServiceDefaults({ services: defaults.services, after: revision, signal }, (event) => defaults.apply(event)),
    describe: () => ({ services: defaults.services, revision: defaults.revision }),
    messages: {
      resynced: 'control plane back: service defaults resynced',
      lost: 'lost the control plane: keeping the last known service defaults until it is back',
    },
  };
}
