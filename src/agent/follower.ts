/**
 * Follows one thing on the control plane — an upstream's endpoint table, this service's
 * authorization policies, the service defaults of the upstreams — as a Feed: read it whole
 * (and the revision it was read at), then watch from that revision. When the control plane
 * goes away the last state is kept and marked stale, and the follower retries with
 * back-off; each reconnect re-reads the whole state, so whatever changed meanwhile
 * (including deletions) is picked up.
 */
import type { Logger } from 'pino';
import { messageOf } from '../errors.js';
import { backoffDelay, sleep } from '../proxy/layers/backoff.js';
import type { SyncState } from '../proxy/snapshot.js';

/** What a follower keeps current. */
export interface Feed {
  /** connecting until the first read; stale while the control plane is away. */
  state: SyncState;
  /** Read the whole state and replace the local copy; resolves with the revision it was read at. */
  resync(): Promise<number>;
  /** Apply changes after `revision` until the stream ends (resolves) or fails (rejects). */
  follow(revision: number, signal: AbortSignal): Promise<void>;
  /** Log fields and messages for "back" and "lost". */
  describe(): Record<string, unknown>;
  readonly messages: { readonly resynced: string; readonly lost: string };
}

export interface FollowerOptions {
  readonly feed: Feed;
  readonly logger: Logger;
  /** Reconnect back-off: first delay and cap (default 200 ms, 5 s). */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
}

/** A feed's state, with a hook called on every change of it (the agent republishes its snapshot). */
export class FeedState {
  #state: SyncState = 'connecting';
  readonly #onChange: () => void;

  constructor(onChange: () => void) {
    this.#onChange = onChange;
  }

  get value(): SyncState {
    return this.#state;
  }

  set value(state: SyncState) {
    if (state === this.#state) return;
    this.#state = state;
    this.#onChange();
  }
}

export class FeedFollower {
  readonly #options: FollowerOptions;
  readonly #abort = new AbortController();
  /** Resolves after the first successful read (never rejects). */
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
    const { feed, logger } = this.#options;
    const signal = this.#abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        const revision = await feed.resync();
        if (signal.aborted) return;
        if (feed.state !== 'connected') {
          if (feed.state === 'stale') logger.info(feed.describe(), feed.messages.resynced);
          feed.state = 'connected';
        }
        this.#markSynced();
        attempt = 0;
        await feed.follow(revision, signal);
        if (signal.aborted) return;
        throw new Error('the watch stream ended');
      } catch (err) {
        if (signal.aborted) return;
        if (feed.state === 'connected') {
          feed.state = 'stale';
          logger.warn({ ...feed.describe(), err: messageOf(err) }, feed.messages.lost);
        }
      }
      attempt += 1;
      if (!await sleep(backoffDelay(attempt, this.#options.backoffBaseMs ?? 200, this.#options.backoffMaxMs ?? 5_000, Math.random), signal)) return;
    }
  }
}
