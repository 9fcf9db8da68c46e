/**
 * Fan-out of committed events to watchers.
 *
 * The store publishes the events of each commit; the hub delivers them in one microtask batch,
 * so a write never runs listener code on its own stack and a listener that writes cannot
 * reorder events. Watchers are grouped by prefix, so a commit costs one prefix test per
 * distinct prefix plus one call per interested watcher — cheap with thousands of watchers.
 *
 * A new watcher brings a replay source (the logged events after its start revision, read a page
 * at a time) and the revision the replay reaches (the store's revision when it subscribed).
 * Replays are delivered in slices of at most REPLAY_SLICE_MS, yielding to the event loop in
 * between, so a watcher from an old revision never blocks other requests; live events that
 * arrive for it meanwhile wait in its backlog. Live events at or below the replay's revision
 * are skipped for it, so it sees every event once, in order, with no gap.
 */
import { messageOf } from '../../errors.js';
import type { WatchEvent, WatchListener, Watcher } from '../types.js';

/** Longest synchronous run of replay delivery before yielding to the event loop. */
const REPLAY_SLICE_MS = 8;

/** The next page of a replay after the last event delivered (undefined before the first); [] when done. */
export type ReplaySource = (last: WatchEvent | undefined) => readonly WatchEvent[];

export interface WarnLogger {
  warn(obj: object, msg: string): void;
}

interface Subscription {
  readonly prefix: string;
  readonly listener: WatchListener;
  /** Live events at or below this revision are part of the replay. */
  readonly replayedThrough: number;
  /** Where the rest of the replay comes from; undefined once it is delivered. */
  source: ReplaySource | undefined;
  /** Replay events read but not delivered yet. */
  page: readonly WatchEvent[];
  /** Position in `page`. */
  index: number;
  /** The last replay event delivered. */
  last: WatchEvent | undefined;
  /** Live events that arrived while the replay was still being delivered. */
  backlog: WatchEvent[];
  closed: boolean;
}

export class WatchHub {
  readonly #logger: WarnLogger | undefined;
  /** Prefix → its subscriptions. */
  readonly #byPrefix = new Map<string, Set<Subscription>>();
  /** Subscriptions whose replay has not been delivered yet. */
  readonly #replaying = new Set<Subscription>();
  /** Committed events not delivered yet, one array per commit. */
  #pending: (readonly WatchEvent[])[] = [];
  #scheduled = false;
  #flushing = false;
  /** A replay slice is scheduled on the next setImmediate. */
  #replayScheduled = false;

  constructor(logger?: WarnLogger) {
    this.#logger = logger;
  }

  /** Number of open watchers. */
  get size(): number {
    let size = 0;
    for (const subscriptions of this.#byPrefix.values()) size += subscriptions.size;
    return size;
  }

  /**
   * Add a watcher on `prefix`. `source` pages through the logged events it missed, up to and
   * including revision `replayedThrough` (the store's revision when it subscribed); a source
   * that throws ends the watch with that error (e.g. history compacted while replaying).
   */
  subscribe(prefix: string, source: ReplaySource | undefined, replayedThrough: number, listener: WatchListener): Watcher {
    const subscription: Subscription = {
      prefix, listener, replayedThrough, source, page: [], index: 0, last: undefined, backlog: [], closed: false,
    };
    const group = this.#byPrefix.get(prefix);
    if (group === undefined) this.#byPrefix.set(prefix, new Set([subscription]));
    else group.add(subscription);
    if (source !== undefined) {
      this.#replaying.add(subscription);
      this.#scheduleReplay(true);
    }
    return { close: () => this.#unsubscribe(subscription) };
  }

  /** Queue the events of one commit (all of one revision) for delivery. */
  publish(events: readonly WatchEvent[]): void {
    // With no watcher there is nobody to tell: a later watcher replays these from the log.
    if (events.length === 0 || this.#byPrefix.size === 0) return;
    this.#pending.push(events);
    this.#schedule();
  }

  /**
   * End every watch: deliver what was already committed, then call each listener's onError
   * once. The hub stays usable (it is empty afterwards).
   */
  failAll(error: Error): void {
    this.#flush();
    for (const subscription of [...this.#replaying]) this.#deliverReplay(subscription, Number.POSITIVE_INFINITY);
    const subscriptions = [...this.#byPrefix.values()].flatMap((group) => [...group]);
    for (const subscription of subscriptions) {
      this.#unsubscribe(subscription);
      this.#call(subscription, () => subscription.listener.onError(error), 'onError');
    }
  }

  #unsubscribe(subscription: Subscription): void {
    if (subscription.closed) return;
    subscription.closed = true;
    subscription.source = undefined;
    subscription.page = [];
    subscription.backlog = [];
    this.#replaying.delete(subscription);
    const group = this.#byPrefix.get(subscription.prefix);
    group?.delete(subscription);
    if (group?.size === 0) this.#byPrefix.delete(subscription.prefix);
  }

  #schedule(): void {
    if (this.#scheduled || this.#flushing) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  /** Deliver pending commits until there are none; re-entrant calls return at once. */
  #flush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      for (;;) {
        const events = this.#pending.shift();
        if (events === undefined) break;
        this.#deliverLive(events);
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** Run replay slices: the first one in a microtask (a small replay arrives at once), later ones after I/O. */
  #scheduleReplay(soon: boolean): void {
    if (this.#replayScheduled) return;
    this.#replayScheduled = true;
    const run = (): void => {
      this.#replayScheduled = false;
      this.#replaySlice();
    };
    if (soon) queueMicrotask(run);
    else setImmediate(run);
  }

  /** Deliver replays for at most REPLAY_SLICE_MS, then yield; round-robin over the replaying watchers. */
  #replaySlice(): void {
    const deadline = performance.now() + REPLAY_SLICE_MS;
    this.#flush(); // commits published before this slice go to backlogs or live watchers first
    while (this.#replaying.size > 0 && performance.now() < deadline) {
      for (const subscription of [...this.#replaying]) {
        this.#deliverReplay(subscription, deadline);
        if (performance.now() >= deadline) break;
      }
    }
    if (this.#replaying.size > 0) this.#scheduleReplay(false);
  }

  /** Deliver a watcher's replay (page by page) until done or past the deadline; then its backlog. */
  #deliverReplay(subscription: Subscription, deadline: number): void {
    let delivered = 0;
    while (!subscription.closed && subscription.source !== undefined) {
      if (subscription.index >= subscription.page.length) {
        let page: readonly WatchEvent[];
        try {
          page = subscription.source(subscription.last);
        } catch (err) {
          this.#unsubscribe(subscription);
          this.#call(subscription, () => subscription.listener.onError(err instanceof Error ? err : new Error(String(err))), 'onError');
          return;
        }
        if (page.length === 0) {
          subscription.source = undefined;
          break;
        }
        subscription.page = page;
        subscription.index = 0;
      }
      const event = subscription.page[subscription.index];
      subscription.index += 1;
      subscription.last = event;
      this.#call(subscription, () => subscription.listener.onEvent(event), 'onEvent');
      delivered += 1;
      if ((delivered & 63) === 0 && performance.now() >= deadline) return;
    }
    if (subscription.closed) return;
    // Replay done: the live events that waited, then live delivery.
    this.#replaying.delete(subscription);
    subscription.page = [];
    const backlog = subscription.backlog;
    subscription.backlog = [];
    for (const event of backlog) {
      if (subscription.closed) return;
      this.#call(subscription, () => subscription.listener.onEvent(event), 'onEvent');
    }
  }

  #deliverLive(events: readonly WatchEvent[]): void {
    for (const [prefix, group] of this.#byPrefix) {
      for (const event of events) {
        if (!event.key.startsWith(prefix)) continue;
        for (const subscription of group) {
          if (subscription.closed || event.revision <= subscription.replayedThrough) continue;
          if (this.#replaying.has(subscription)) { subscription.backlog.push(event); continue; }
          this.#call(subscription, () => subscription.listener.onEvent(event), 'onEvent');
        }
      }
    }
  }

  /** Run listener code; a listener that throws is logged and does not affect the others. */
  #call(subscription: Subscription, fn: () => void, callback: string): void {
    try {
      fn();
    } catch (err) {
      this.#logger?.warn({ prefix: subscription.prefix, callback, err: messageOf(err) }, 'watch listener threw; ignoring it');
    }
  }
}
