/**
 * Fan-out of committed events to watchers.
 *
 * The store publishes the events of each commit; the hub delivers them in one microtask batch,
 * so a write never runs listener code on its own stack and a listener that writes cannot
 * reorder events. Watchers are grouped by prefix, so a commit costs one prefix test per
 * distinct prefix plus one call per interested watcher — cheap with thousands of watchers.
 *
 * A new watcher brings its replay (the logged events after its start revision, read in the same
 * tick as it subscribes) and the revision the replay reaches; live events at or below that
 * revision are skipped for it, so it sees every event once, in order, with no gap.
 */
import { messageOf } from '../../errors.js';
import type { WatchEvent, WatchListener, Watcher } from '../types.js';

export interface WarnLogger {
  warn(obj: object, msg: string): void;
}

interface Subscription {
  readonly prefix: string;
  readonly listener: WatchListener;
  /** Live events at or below this revision are part of the replay. */
  readonly replayedThrough: number;
  /** Events to deliver before any live event; emptied once delivered. */
  replay: readonly WatchEvent[];
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
   * Add a watcher on `prefix`. `replay` holds the logged events it missed, up to and including
   * revision `replayedThrough` (the store's revision when the replay was read).
   */
  subscribe(prefix: string, replay: readonly WatchEvent[], replayedThrough: number, listener: WatchListener): Watcher {
    const subscription: Subscription = { prefix, listener, replayedThrough, replay, closed: false };
    const group = this.#byPrefix.get(prefix);
    if (group === undefined) this.#byPrefix.set(prefix, new Set([subscription]));
    else group.add(subscription);
    if (replay.length > 0) {
      this.#replaying.add(subscription);
      this.#schedule();
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
    const subscriptions = [...this.#byPrefix.values()].flatMap((group) => [...group]);
    for (const subscription of subscriptions) {
      this.#unsubscribe(subscription);
      this.#call(subscription, () => subscription.listener.onError(error), 'onError');
    }
  }

  #unsubscribe(subscription: Subscription): void {
    if (subscription.closed) return;
    subscription.closed = true;
    subscription.replay = [];
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

  /** Deliver replays and pending commits until there are none; re-entrant calls return at once. */
  #flush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      for (;;) {
        // Replays first: a watcher added while delivering must get its replay before later commits.
        for (const subscription of this.#replaying) this.#deliverReplay(subscription);
        const events = this.#pending.shift();
        if (events === undefined) break;
        this.#deliverLive(events);
      }
    } finally {
      this.#flushing = false;
    }
  }

  #deliverReplay(subscription: Subscription): void {
    const { replay } = subscription;
    subscription.replay = [];
    this.#replaying.delete(subscription);
    for (const event of replay) {
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
