/**
 * Follows one upstream service on the control plane: list it (a full table and the
 * revision it was read at), then watch from that revision. When the control plane goes
 * away the table is kept and marked stale, and the follower retries with back-off; each
 * reconnect re-lists, so whatever changed meanwhile (including deletions) is picked up.
 */
import type { Logger } from 'pino';
import type { ControlPlaneClient } from '../../cli/client.js';
import { messageOf } from '../../errors.js';
import { backoffDelay, sleep } from '../layers/backoff.js';
import type { Cluster } from './cluster.js';

export interface FollowerOptions {
  readonly client: ControlPlaneClient;
  readonly cluster: Cluster;
  readonly logger: Logger;
  /** Reconnect back-off: first delay and cap (default 200 ms, 5 s). */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
}

export class ServiceFollower {
  readonly #options: FollowerOptions;
  readonly #abort = new AbortController();
  /** Resolves after the first successful listing (never rejects). */
  readonly synced: Promise<void>;
  #markSynced: () => void = () => undefined;

  constructor(options: FollowerOptions) {
    this.#options = options;
    this.synced = new Promise((resolve) => { this.#markSynced = resolve; });
  }

  start(): void {
    void this.#run();
  }

  close(): void {
    this.#abort.abort();
  }

  async #run(): Promise<void> {
    const { client, cluster, logger } = this.#options;
    const signal = this.#abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        const listing = await client.instances(cluster.service);
        if (signal.aborted) return;
        cluster.replace(listing.instances, listing.revision);
        if (cluster.state !== 'connected') {
          if (cluster.state === 'stale') logger.info({ service: cluster.service, revision: listing.revision }, 'control plane back: endpoint table resynced');
          cluster.state = 'connected';
        }
        this.#markSynced();
        attempt = 0;
        await client.watch({ service: cluster.service, after: listing.revision, signal }, (event) => cluster.apply(event));
        if (signal.aborted) return;
        throw new Error('the watch stream ended');
      } catch (err) {
        if (signal.aborted) return;
        if (cluster.state === 'connected') {
          cluster.state = 'stale';
          logger.warn({ service: cluster.service, err: messageOf(err), endpoints: cluster.healthy },
            'lost the control plane: routing with the last known endpoints until it is back');
        }
      }
      attempt += 1;
      if (!await sleep(backoffDelay(attempt, this.#options.backoffBaseMs ?? 200, this.#options.backoffMaxMs ?? 5_000, Math.random), signal)) return;
    }
  }
}
