/**
 * The endpoint table of one upstream service: every registered instance as the registry
 * reports it, and the healthy ones (status not critical) as Endpoints in the service's
 * Balancer and OutlierDetector. Fed by a full listing (`replace`) and by watch events (`apply`).
 */
import type { Balancer, Endpoint, PickResult } from '../../balancer/types.js';
import { isHealthy, type InstanceRecord, type RegistryEvent } from '../../registry/types.js';
import type { OutlierDetector } from '../layers/outlier.js';

/** connecting: never synced yet; connected: following the watch; stale: control plane lost, last table kept. */
export type SyncState = 'connecting' | 'connected' | 'stale';

export interface ClusterStatus {
  readonly state: SyncState;
  /** The registry revision the table reflects. */
  readonly revision: number;
  readonly registered: number;
  /** Ids of the instances that may take traffic (healthy; weight 0 ones are listed but never picked). */
  readonly endpoints: readonly string[];
  readonly ejected: readonly string[];
}

function union(a: ReadonlySet<string>, b: ReadonlySet<string>): ReadonlySet<string> {
  if (b.size === 0) return a;
  if (a.size === 0) return b;
  const both = new Set(a);
  for (const id of b) both.add(id);
  return both;
}

type InstanceView = Pick<InstanceRecord, 'id' | 'address' | 'port' | 'weight' | 'metadata' | 'status'>;

function sameEndpoint(endpoint: Endpoint, instance: InstanceView): boolean {
  if (endpoint.address !== instance.address || endpoint.port !== instance.port || endpoint.weight !== instance.weight) return false;
  const a = endpoint.metadata;
  const b = instance.metadata;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

export class Cluster {
  readonly service: string;
  readonly balancer: Balancer;
  readonly detector: OutlierDetector;
  state: SyncState = 'connecting';
  #revision = 0;
  readonly #instances = new Map<string, InstanceView>();
  /** Healthy endpoints by id; an unchanged instance keeps its Endpoint object (pools are cached on it). */
  #endpoints = new Map<string, Endpoint>();
  readonly #onChange: () => void;

  constructor(service: string, balancer: Balancer, detector: OutlierDetector, onChange: () => void = () => undefined) {
    this.service = service;
    this.balancer = balancer;
    this.detector = detector;
    this.#onChange = onChange;
  }

  get revision(): number {
    return this.#revision;
  }

  /** Instances registered, healthy or not. */
  get registered(): number {
    return this.#instances.size;
  }

  get healthy(): number {
    return this.#endpoints.size;
  }

  endpoints(): IterableIterator<Endpoint> {
    return this.#endpoints.values();
  }

  /** Pick an endpoint that is neither in `tried` nor ejected as an outlier. */
  pick(tried: ReadonlySet<string>, hashKey?: string): PickResult {
    const exclude = union(tried, this.detector.ejected());
    return this.balancer.pick(hashKey === undefined ? { exclude } : { exclude, hashKey });
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

  status(): ClusterStatus {
    return {
      state: this.state,
      revision: this.#revision,
      registered: this.#instances.size,
      endpoints: [...this.#endpoints.keys()],
      ejected: [...this.detector.ejected()],
    };
  }

  #rebuild(): void {
    const next = new Map<string, Endpoint>();
    for (const instance of this.#instances.values()) {
      if (!isHealthy(instance)) continue;
      const previous = this.#endpoints.get(instance.id);
      next.set(instance.id, previous !== undefined && sameEndpoint(previous, instance) ? previous : Object.freeze({
        id: instance.id,
        address: instance.address,
        port: instance.port,
        weight: instance.weight,
        metadata: Object.freeze({ ...instance.metadata }),
      }));
    }
    this.#endpoints = next;
    const endpoints = [...next.values()];
    this.balancer.update(endpoints);
    this.detector.setEndpoints(endpoints.map((e) => e.id));
    this.#onChange();
  }
}
