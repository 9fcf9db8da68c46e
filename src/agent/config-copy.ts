/**
 * The agent's copy of the items of one config kind it follows (src/core/config-kind.ts):
 * a full listing, then watch events past its revision, each item kept in the form the
 * kind's reader makes of it (`accept`: parsed, or left out when it is not for this sidecar
 * or not readable here). `feedOf` turns any such copy — and the endpoint tables — into the
 * Feed a FeedFollower keeps current.
 */
import { eventItem, eventName, type ConfigEvent, type ConfigFields } from '../core/config-kind.js';
import { FeedState, type Feed } from './follower.js';

export interface ConfigCopyOptions<S, V> {
  /** The form kept of a stored item; undefined leaves it out (as if deleted). */
  accept(stored: S): V | undefined;
  /** After every change of the items (and of the feed's state). */
  onChange(): void;
}

export class ConfigCopy<S, V, N extends string, I extends string> {
  readonly sync: FeedState;
  readonly #fields: ConfigFields<N, I>;
  readonly #options: ConfigCopyOptions<S, V>;
  readonly #items = new Map<string, V>();
  #revision = 0;

  constructor(fields: ConfigFields<N, I>, options: ConfigCopyOptions<S, V>, onState: () => void = options.onChange) {
    this.#fields = fields;
    this.#options = options;
    this.sync = new FeedState(onState);
  }

  get revision(): number {
    return this.#revision;
  }

  get(name: string): V | undefined {
    return this.#items.get(name);
  }

  values(): IterableIterator<V> {
    return this.#items.values();
  }

  /** Replace them all with a listing read at `revision`. */
  replace(items: readonly S[], revision: number): void {
    this.#items.clear();
    for (const stored of items) {
      const kept = this.#options.accept(stored);
      if (kept !== undefined) this.#items.set((stored as Readonly<Record<N, string>>)[this.#fields.nameField], kept);
    }
    this.#revision = revision;
    this.#options.onChange();
  }

  /** Apply one watch event; events at or below the revision were seen already, and a delete of an item not held changes nothing. */
  apply(event: ConfigEvent<N, I, S>): void {
    if (event.revision <= this.#revision) return;
    this.#revision = event.revision;
    const name = eventName(this.#fields, event);
    const stored = eventItem(this.#fields, event);
    const kept = stored === undefined ? undefined : this.#options.accept(stored);
    if (kept === undefined) {
      if (!this.#items.delete(name)) return;
    } else {
      this.#items.set(name, kept);
    }
    this.#options.onChange();
  }
}

/** How a feed reads its whole state and follows it. */
export interface FeedSource<L> {
  read(): Promise<L & { readonly revision: number }>;
  load(listing: L, revision: number): void;
  /** Apply the changes after `revision` until the stream ends (resolves) or fails (rejects). */
  follow(revision: number, signal: AbortSignal): Promise<void>;
  describe(): Record<string, unknown>;
  readonly messages: Feed['messages'];
}

/** A copy kept current by a FeedFollower: read whole, then watched from the revision read. */
export function feedOf<L>(sync: FeedState, source: FeedSource<L>): Feed {
  return {
    get state() { return sync.value; },
    set state(state) { sync.value = state; },
    async resync() {
      const listing = await source.read();
      source.load(listing, listing.revision);
      return listing.revision;
    },
    follow: (revision, signal) => source.follow(revision, signal),
    describe: () => source.describe(),
    messages: source.messages,
  };
}
