/**
 * The data plane's endpoint tables: one Cluster (its Balancer, its OutlierDetector) per
 * upstream service of the snapshot, re-synced on every publish. The snapshot's upstream
 * set is fixed by the config, so a table is made once per service and kept.
 */
import type { Endpoint } from '../balancer/types.js';
import { Cluster, type ClusterStatus, type SyncState, type ZoneOptions } from './discovery/cluster.js';
import type { OutlierDetectors } from './layers/outlier.js';
import type { Snapshot, SnapshotSource } from './snapshot.js';

export type { ClusterStatus, SyncState };

export interface EndpointTablesOptions {
  readonly snapshots: SnapshotSource;
  readonly detectors: OutlierDetectors;
  /** Called after any table's endpoints changed (e.g. to close pools of departed endpoints). */
  readonly onChange?: () => void;
  /** The caller's zone (its own `zone` label): zone-aware routing on. */
  readonly zone?: ZoneOptions;
}

const severity: Record<SyncState, number> = { connected: 0, connecting: 1, stale: 2 };

export class EndpointTables {
  readonly #clusters = new Map<string, Cluster>();
  readonly #options: EndpointTablesOptions;
  readonly #unsubscribe: () => void;

  constructor(options: EndpointTablesOptions) {
    this.#options = options;
    this.#sync(options.snapshots.current());
    this.#unsubscribe = options.snapshots.subscribe((next) => this.#sync(next));
  }

  #sync(snapshot: Snapshot): void {
    for (const [service, view] of snapshot.upstreams) {
      const cluster = this.#clusters.get(service);
      if (cluster === undefined) {
        this.#clusters.set(service, new Cluster(view, this.#options.detectors.for(service, view.policy.outlierDetection), this.#options.onChange, this.#options.zone));
      } else {
        cluster.sync(view);
      }
    }
  }

  get(service: string): Cluster | undefined {
    return this.#clusters.get(service);
  }

  /** Every endpoint of every table (healthy ones). */
  *endpoints(): IterableIterator<Endpoint> {
    for (const cluster of this.#clusters.values()) yield* cluster.endpoints();
  }

  /** The worst state of any table; undefined when the sidecar calls no service. */
  state(): SyncState | undefined {
    let worst: SyncState | undefined;
    for (const cluster of this.#clusters.values()) {
      if (worst === undefined || severity[cluster.state] > severity[worst]) worst = cluster.state;
    }
    return worst;
  }

  status(): Record<string, ClusterStatus> {
    const out: Record<string, ClusterStatus> = {};
    for (const [service, cluster] of this.#clusters) out[service] = cluster.status();
    return out;
  }

  close(): void {
    this.#unsubscribe();
  }
}
