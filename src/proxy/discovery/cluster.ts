/**
 * The data plane's table of one upstream service: its Balancer and OutlierDetector over the
 * healthy endpoints of the current snapshot (src/proxy/snapshot.ts). `sync(view)` adopts a
 * new snapshot's view of the service: new endpoints go to the balancer and the detector, a
 * changed load-balancer strategy gets a fresh balancer, changed outlier settings are
 * adopted; an unchanged view costs nothing. Following the control plane is the agent's
 * job (src/agent/endpoints.ts).
 */
import { strategies } from '../../balancer/registry.js';
import type { Balancer, Endpoint, PickResult } from '../../balancer/types.js';
import type { Subset } from '../types.js';
import type { OutlierDetector } from '../layers/outlier.js';
import type { SyncState, UpstreamView } from '../snapshot.js';

export type { SyncState };

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

function sameStrategy(a: UpstreamView['policy']['loadBalancer'], b: UpstreamView['policy']['loadBalancer']): boolean {
  return a === b || (a.strategy === b.strategy && JSON.stringify(a.config) === JSON.stringify(b.config));
}

/** Whether an endpoint carries every label of the subset. */
export function inSubset(endpoint: Pick<Endpoint, 'metadata'>, labels: Readonly<Record<string, string>>): boolean {
  for (const key in labels) if (endpoint.metadata[key] !== labels[key]) return false;
  return true;
}

/** A route's subset of the endpoints, with a balancer of its own (same strategy as the service's). */
interface SubsetTable {
  readonly labels: Readonly<Record<string, string>>;
  readonly balancer: Balancer;
  endpoints: readonly Endpoint[];
  /** The ids of {@link endpoints}: what a spill-over out of this zone leaves out. */
  ids: ReadonlySet<string>;
  /** Requests picked from this table and not done yet (the zone's load, for the spill-over rule). */
  inFlight: number;
}

/**
 * Zone-aware routing (docs/traffic-policy.md#zones): a caller whose own instance has a `zone`
 * label sends to the endpoints with the same `zone` label (within the route's subset, if
 * any), and spills over to every zone when (1) none of them can take the request — none
 * healthy, all ejected as outliers or already tried by this request — or (2) they are
 * overloaded: more than `spillInFlight` requests in flight per endpoint of the zone.
 */
export interface ZoneOptions {
  readonly zone: string;
  /** Default {@link DEFAULT_SPILL_IN_FLIGHT}. */
  readonly spillInFlight?: number;
}

export const DEFAULT_SPILL_IN_FLIGHT = 16;

function counted(table: SubsetTable, pick: PickResult): PickResult {
  if (pick.kind !== 'pick') return pick;
  table.inFlight += 1;
  let done = false;
  return {
    kind: 'pick',
    endpoint: pick.endpoint,
    done(result) {
      if (done) return;
      done = true;
      table.inFlight -= 1;
      pick.done(result);
    },
  };
}

export class Cluster {
  readonly service: string;
  readonly detector: OutlierDetector;
  #balancer: Balancer;
  /** By the subset's labels (as JSON): made on the first pick, updated with the endpoints. */
  #subsets = new Map<string, SubsetTable>();
  #view: UpstreamView;
  readonly #onChange: () => void;

  readonly #zone: ZoneOptions | undefined;

  constructor(view: UpstreamView, detector: OutlierDetector, onChange: () => void = () => undefined, zone?: ZoneOptions) {
    this.service = view.service;
    this.#zone = zone;
    this.detector = detector;
    this.#view = view;
    this.#onChange = onChange;
    this.#balancer = strategies.configure(view.policy.loadBalancer, 'loadBalancer').create();
    this.#balancer.update(view.endpoints);
    detector.setEndpoints(view.endpoints.map((e) => e.id));
  }

  get balancer(): Balancer {
    return this.#balancer;
  }

  get state(): SyncState {
    return this.#view.state;
  }

  get revision(): number {
    return this.#view.revision;
  }

  /** Instances registered, healthy or not. */
  get registered(): number {
    return this.#view.registered;
  }

  get healthy(): number {
    return this.#view.endpoints.length;
  }

  endpoints(): IterableIterator<Endpoint> {
    return this.#view.endpoints.values();
  }

  /** Pick an endpoint that is neither in `tried` nor ejected as an outlier; within `subset` when given. */
  pick(tried: ReadonlySet<string>, hashKey?: string, subset?: Subset): PickResult {
    const exclude = union(tried, this.detector.ejected());
    const context = hashKey === undefined ? { exclude } : { exclude, hashKey };
    const zone = this.#zone;
    if (zone !== undefined) {
      const local = this.#table({ ...subset?.labels, zone: zone.zone });
      if (local.endpoints.length > 0) {
        if (local.inFlight < local.endpoints.length * (zone.spillInFlight ?? DEFAULT_SPILL_IN_FLIGHT)) {
          const pick = counted(local, local.balancer.pick(context));
          if (pick.kind === 'pick') return pick;
        } else {
          // Overloaded: spill to the other zones first — the service-wide balancer does not see
          // the zone's in-flight load, so it could pick a busy local endpoint — and back to
          // every zone only when no other zone can take the request.
          const away = this.#spillBalancer(subset).pick(hashKey === undefined ? { exclude: union(exclude, local.ids) } : { exclude: union(exclude, local.ids), hashKey });
          if (away.kind === 'pick') return away;
        }
      }
    }
    return this.#spillBalancer(subset).pick(context);
  }

  #spillBalancer(subset: Subset | undefined): Balancer {
    return subset === undefined ? this.#balancer : this.subset(subset).balancer;
  }

  /** The caller's zone, when zone-aware routing is on. */
  get zone(): string | undefined {
    return this.#zone?.zone;
  }

  /** The subset's table (its healthy endpoints and balancer). */
  subset(subset: Subset): { readonly endpoints: readonly Endpoint[]; readonly balancer: Balancer } {
    return this.#table(subset.labels);
  }

  #table(labels: Readonly<Record<string, string>>): SubsetTable {
    const key = JSON.stringify(labels);
    let table = this.#subsets.get(key);
    if (table === undefined) {
      const endpoints = this.#view.endpoints.filter((e) => inSubset(e, labels));
      table = { labels, balancer: strategies.configure(this.#view.policy.loadBalancer, 'loadBalancer').create(), endpoints, ids: new Set(endpoints.map((e) => e.id)), inFlight: 0 };
      table.balancer.update(endpoints);
      this.#subsets.set(key, table);
    }
    return table;
  }

  /** Adopt a new snapshot's view of this service. */
  sync(view: UpstreamView): void {
    const previous = this.#view;
    if (view === previous) return;
    this.#view = view;
    if (view.policy.outlierDetection !== this.detector.settings) this.detector.configure(view.policy.outlierDetection);
    const strategyChanged = !sameStrategy(view.policy.loadBalancer, previous.policy.loadBalancer);
    if (strategyChanged) {
      this.#balancer = strategies.configure(view.policy.loadBalancer, 'loadBalancer').create();
      this.#subsets = new Map();
    }
    if (strategyChanged || view.endpoints !== previous.endpoints) {
      this.#balancer.update(view.endpoints);
      for (const table of this.#subsets.values()) {
        table.endpoints = view.endpoints.filter((e) => inSubset(e, table.labels));
        table.ids = new Set(table.endpoints.map((e) => e.id));
        table.balancer.update(table.endpoints);
      }
      this.detector.setEndpoints(view.endpoints.map((e) => e.id));
      this.#onChange();
    }
  }

  status(): ClusterStatus {
    return {
      state: this.#view.state,
      revision: this.#view.revision,
      registered: this.#view.registered,
      endpoints: this.#view.endpoints.map((e) => e.id),
      ejected: [...this.detector.ejected()],
    };
  }
}
