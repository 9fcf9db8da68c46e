/**
 * The agent's copy of one upstream's registry entries: every registered instance as the
 * registry reports it (a full listing, then watch events), and from it the healthy ones
 * (status not critical) as frozen Endpoints for the snapshot. An unchanged instance keeps
 * its Endpoint object, so the data plane's pools (cached on it) survive a republish.
 */
import type { Endpoint } from '../balancer/types.js';
import type { ControlPlaneClient } from '../client/control-plane.js';
import { isHealthy, type InstanceRecord, type RegistryEvent } from '../registry/types.js';
import { feedOf } from './config-copy.js';
import { FeedState, type Feed } from './follower.js';

type InstanceView = Pick<InstanceRecord, 'id' | 'address' | 'port' | 'weight' | 'metadata' | 'status'>;

function sameEndpoint(endpoint: Endpoint, instance: InstanceView): boolean {
  if (endpoint.address !== instance.address || endpoint.port !== instance.port || endpoint.weight !== instance.weight) return false;
  const a = endpoint.metadata;
  const b = instance.metadata;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

export class EndpointListing {
  readonly service: string;
  readonly sync: FeedState;
  #revision = 0;
  readonly #instances = new Map<string, InstanceView>();
  /** Healthy endpoints, frozen; replaced (never changed) on each change. */
  #endpoints: readonly Endpoint[] = Object.freeze([]);
  readonly #onChange: () => void;

  constructor(service: string, onChange: () => void) {
    this.service = service;
    this.#onChange = onChange;
    this.sync = new FeedState(onChange);
  }

  get revision(): number {
    return this.#revision;
  }

  /** Instances registered, healthy or not. */
  get registered(): number {
    return this.#instances.size;
  }

  get endpoints(): readonly Endpoint[] {
    return this.#endpoints;
  }

  /** Replace the whole table with a listing read at `revision`. */
  replace(instances: readonly InstanceView[], revision: number): void {
    this.#instances.clear();
    for (const instance of instances) this.#instances.set(instance.id, instance);
    this.#revision = revision;
    this.#rebuild();
  }

  /** Apply one watch event; events at or below the table's revision were seen already. */
  apply(event: RegistryEvent): void {
    if (event.revision <= this.#revision || event.service !== this.service) return;
    this.#revision = event.revision;
    if (event.type === 'deregistered') this.#instances.delete(event.id);
    else this.#instances.set(event.id, event.instance);
    this.#rebuild();
  }

  #rebuild(): void {
    const previous = new Map(this.#endpoints.map((e) => [e.id, e]));
    const next: Endpoint[] = [];
    for (const instance of this.#instances.values()) {
      if (!isHealthy(instance)) continue;
      const kept = previous.get(instance.id);
      next.push(kept !== undefined && sameEndpoint(kept, instance) ? kept : Object.freeze({
        id: instance.id,
        address: instance.address,
        port: instance.port,
        weight: instance.weight,
        metadata: Object.freeze({ ...instance.metadata }),
      }));
    }
    this.#endpoints = Object.freeze(next);
    this.#onChange();
  }
}

/** An upstream service's endpoint table as a Feed. */
export function endpointFeed(client: ControlPlaneClient, listing: EndpointListing): Feed {
  return feedOf(listing.sync, {
    read: () => client.instances(listing.service),
    load: (answer, revision) => listing.replace(answer.instances, revision),
    follow: (revision, signal) => client.watch({ service: listing.service, after: revision, signal }, (event) => listing.apply(event)),
    describe: () => ({ service: listing.service, revision: listing.revision, endpoints: listing.endpoints.length }),
    messages: {
      resynced: 'control plane back: endpoint table resynced',
      lost: 'lost the control plane: routing with the last known endpoints until it is back',
    },
  });
}
