/**
 * Local fan-out of etcd watches. Sidecars and CLI watchers open many watches on the same few
 * prefixes (one per upstream service), and etcd watches are created one at a time per stream:
 * a thousand watchers must not mean a thousand etcd watches. Each prefix gets one shared etcd
 * watch (a feed) that keeps its recent events; a new watcher joins it by replaying the buffered
 * events after its revision and going live in the same tick — no gap, no duplicate. A watcher
 * whose revision is older than the feed's buffer gets an etcd watch of its own.
 */
import type { WatchEvent, WatchListener, Watcher } from '../types.js';

/** Events a feed keeps for watchers that join a little behind (trimmed by whole revisions). */
const BUFFERED_EVENTS = 10_000;
/** An idle feed (no watcher) is kept this long, so reconnecting watchers find it. */
const IDLE_FEED_MS = 60_000;

export interface FeedSource {
  /** Open the shared etcd watch of a prefix after `afterRevision`, reporting into `feed`. */
  open(prefix: string, afterRevision: number, feed: Feed): Promise<Watcher>;
}

interface Subscriber {
  listener: WatchListener;
  after: number;
}

export class Feed implements WatchListener {
  readonly prefix: string;
  readonly #subscribers = new Set<Subscriber>();
  readonly #buffer: WatchEvent[] = [];
  /** Every event with a revision above this one is in the buffer (or still to come). */
  #bufferFrom: number;
  /** Every event up to this revision has been received. */
  #delivered: number;
  #watch: Watcher | undefined;
  #failed: Error | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #onIdle: (feed: Feed) => void;

  constructor(prefix: string, afterRevision: number, onIdle: (feed: Feed) => void) {
    this.prefix = prefix;
    this.#bufferFrom = afterRevision;
    this.#delivered = afterRevision;
    this.#onIdle = onIdle;
  }

  get delivered(): number {
    return this.#delivered;
  }

  get failed(): boolean {
    return this.#failed !== undefined;
  }

  attach(watch: Watcher): void {
    this.#watch = watch;
  }

  /** Can a watcher from `afterRevision` join now? (Otherwise it needs a watch of its own.) */
  covers(afterRevision: number): boolean {
    return this.#failed === undefined && afterRevision >= this.#bufferFrom;
  }

  /** Replay what the watcher missed, then go live: synchronous, so nothing slips in between. */
  join(listener: WatchListener, afterRevision: number): Watcher {
    const subscriber: Subscriber = { listener, after: afterRevision };
    for (const event of this.#buffer) if (event.revision > afterRevision) deliver(subscriber, event);
    this.#subscribers.add(subscriber);
    clearTimeout(this.#idleTimer);
    return { close: () => this.#leave(subscriber) };
  }

  onEvent(event: WatchEvent): void {
    this.#buffer.push(event);
    if (this.#buffer.length > 2 * BUFFERED_EVENTS) this.#trim();
    if (event.revision > this.#delivered) this.#delivered = event.revision;
    for (const subscriber of this.#subscribers) if (event.revision > subscriber.after) deliver(subscriber, event);
  }

  progress(revision: number): void {
    if (revision > this.#delivered) this.#delivered = revision;
  }

  onError(error: Error): void {
    if (this.#failed !== undefined) return;
    this.#failed = error;
    clearTimeout(this.#idleTimer);
    const subscribers = [...this.#subscribers];
    this.#subscribers.clear();
    this.#onIdle(this);
    for (const { listener } of subscribers) listener.onError(error);
  }

  close(): void {
    clearTimeout(this.#idleTimer);
    this.#watch?.close();
  }

  #leave(subscriber: Subscriber): void {
    if (!this.#subscribers.delete(subscriber) || this.#subscribers.size > 0 || this.#failed !== undefined) return;
    this.#idleTimer = setTimeout(() => {
      if (this.#subscribers.size > 0) return;
      this.#onIdle(this);
      this.close();
    }, IDLE_FEED_MS);
    this.#idleTimer.unref();
  }

  /** Drop the oldest events down to BUFFERED_EVENTS, by whole revisions. */
  #trim(): void {
    let cut = this.#buffer.length - BUFFERED_EVENTS;
    const revision = this.#buffer[cut - 1]?.revision ?? this.#bufferFrom;
    while (this.#buffer[cut]?.revision === revision) cut += 1;
    this.#buffer.splice(0, cut);
    this.#bufferFrom = revision;
  }
}

function deliver(subscriber: Subscriber, event: WatchEvent): void {
  try {
    subscriber.listener.onEvent(event);
  } catch {
    // A listener's failure is its own: the next event still goes to it, and to everyone else.
  }
}

export class WatchHub {
  readonly #source: FeedSource;
  readonly #feeds = new Map<string, Promise<Feed>>();

  constructor(source: FeedSource) {
    this.#source = source;
  }

  /**
   * Join the prefix's feed if it can serve a watcher from `afterRevision`; undefined when the
   * watcher needs an etcd watch of its own (its revision is older than the feed's buffer).
   * `checks.start` validates the revision a new feed starts from (future, compacted);
   * `checks.future` one beyond what the feed has delivered (not in the future).
   */
  async join(prefix: string, afterRevision: number, listener: WatchListener, checks: { start(): Promise<void>; future(): Promise<void> }): Promise<Watcher | undefined> {
    let pending = this.#feeds.get(prefix);
    if (pending === undefined) {
      // Registered at once, so that watchers arriving together share the one feed.
      const starting = checks.start().then(() => this.#start(prefix, afterRevision));
      this.#feeds.set(prefix, starting);
      starting.catch(() => { if (this.#feeds.get(prefix) === starting) this.#feeds.delete(prefix); });
      return starting.then((feed) => feed.join(listener, afterRevision));
    }
    let feed: Feed;
    try {
      feed = await pending;
    } catch {
      return undefined; // that feed could not start: a watch of its own says why, if it fails too
    }
    if (afterRevision > feed.delivered) await checks.future();
    return feed.covers(afterRevision) ? feed.join(listener, afterRevision) : undefined;
  }

  close(): void {
    for (const pending of this.#feeds.values()) pending.then((feed) => feed.close(), () => undefined);
    this.#feeds.clear();
  }

  async #start(prefix: string, afterRevision: number): Promise<Feed> {
    const feed = new Feed(prefix, afterRevision, (idle) => {
      void this.#feeds.get(prefix)?.then((current) => { if (current === idle) this.#feeds.delete(prefix); }, () => undefined);
    });
    feed.attach(await this.#source.open(prefix, afterRevision, feed));
    return feed;
  }
}
