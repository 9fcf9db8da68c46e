/**
 * The agent's copy of the control plane's service defaults for the services this sidecar
 * calls (one watch for all of them), kept current like the endpoint tables; the last known
 * defaults stay in force while the control plane is away.
 */
import type { ControlPlaneClient } from '../client/control-plane.js';
import { SERVICE_DEFAULTS_FIELDS, type ServiceDefaults, type ServiceDefaultsEvent } from '../core/service-defaults.js';
import { ConfigCopy, feedOf } from './config-copy.js';
import type { Feed, FeedState } from './follower.js';

export class UpstreamDefaults {
  readonly services: readonly string[];
  readonly #copy: ConfigCopy<ServiceDefaults, ServiceDefaults, 'service', 'serviceDefaults'>;

  constructor(services: readonly string[], onChange: () => void) {
    this.services = services;
    this.#copy = new ConfigCopy(SERVICE_DEFAULTS_FIELDS, { accept: (entry) => (services.includes(entry.service) ? entry : undefined), onChange });
  }

  get sync(): FeedState {
    return this.#copy.sync;
  }

  get revision(): number {
    return this.#copy.revision;
  }

  /** The defaults of `service` in force; undefined when it has none. */
  get(service: string): ServiceDefaults | undefined {
    return this.#copy.get(service);
  }

  /** Replace them all with a listing read at `revision`. */
  replace(entries: readonly ServiceDefaults[], revision: number): void {
    this.#copy.replace(entries, revision);
  }

  /** Apply one watch event; events at or below the revision were seen already. */
  apply(event: ServiceDefaultsEvent): void {
    this.#copy.apply(event);
  }
}

/** The upstreams' service defaults as a Feed. */
export function serviceDefaultsFeed(client: ControlPlaneClient, defaults: UpstreamDefaults): Feed {
  return feedOf(defaults.sync, {
    read: () => client.serviceDefaults(defaults.services),
    load: (listing, revision) => defaults.replace(listing.serviceDefaults, revision),
    follow: (revision, signal) => client.watchServiceDefaults({ services: defaults.services, after: revision, signal }, (event) => defaults.apply(event)),
    describe: () => ({ services: defaults.services, revision: defaults.revision }),
    messages: {
      resynced: 'control plane back: service defaults resynced',
      lost: 'lost the control plane: keeping the last known service defaults until it is back',
    },
  });
}
