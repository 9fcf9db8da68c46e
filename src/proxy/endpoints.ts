/**
 * The endpoint tables of the services this sidecar calls — only those: one Cluster per
 * upstream (its Balancer, its OutlierDetector, its instances), each kept current by a
 * FeedFollower on the control plane's watch.
 */
import type { Logger } from 'pino';
import { strategies } from '../balancer/registry.js';
import type { Endpoint } from '../balancer/types.js';
import type { ControlPlaneClient } from '../client/control-plane.js';
import { Cluster, type ClusterStatus, type SyncState } from './discovery/cluster.js';
import { clusterFeed, FeedFollower } from './discovery/follower.js';
import type { OutlierDetectors } from './layers/outlier.js';
import type { UpstreamPolicy } from './types.js';

export type { ClusterStatus, SyncState };

export interface EndpointTablesOptions {
  readonly client: ControlPlaneClient;
  readonly logger: Logger;
  readonly detectors: OutlierDetectors;
  readonly upstreams: ReadonlyArray<{ readonly service: string; readonly policy: UpstreamPolicy }>;
  /** Called after any table changed (e.g. to close pools of departed endpoints). */
  readonly onChange?: () => void;
}

const severity: Record<SyncState, number> = { connected: 0, connecting: 1, stale: 2 };

export class EndpointTables {
  readonly #clusters = new Map<string, Cluster>();
  readonly #followers: FeedFollower[] = [];

  constructor(options: EndpointTablesOptions) {
    for (const upstream of options.upstreams) {
      const { service, policy } = upstream;
      const balancer = strategies.configure(policy.loadBalancer, 'loadBalancer').create();
      const cluster = new Cluster(service, balancer, options.detectors.for(service, policy.outlierDetection), options.onChange);
      this.#clusters.set(upstream.service, cluster);
      this.#followers.push(new FeedFollower({ feed: clusterFeed(options.client, cluster), logger: options.logger }));
    }
  }

  /** Start following; resolves once every table synced or after `timeoutMs`, whichever is first. */
  async start(timeoutMs: number): Promise<void> {
    for (const follower of this.#followers) follower.start();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.#followers.map((f) => f.synced)),
      new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs); }),
    ]);
    clearTimeout(timer);
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
    for (const follower of this.#followers) follower.close();
  }
}
