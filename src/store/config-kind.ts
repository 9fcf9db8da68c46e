/**
 * The control plane's store of one config kind (src/core/config-kind.ts): one key per item
 * under the kind's prefix, each validated whole with the kind's schema before anything is
 * written (an apply of several validates all of them first, so bad input stores nothing),
 * listed by name, and watched from a revision with the events the kind's followers read.
 * RouteStore, ServiceDefaultsStore, PolicyStore and GatewayStore are this plus what their
 * kind adds (overlaps, `check`).
 */
import { ErrorCodes, TrellisError } from '../errors.js';
import { configEvent, type ConfigEvent, type ConfigFields } from '../core/config-kind.js';
import type { KeyValue, KvStore, Watcher, WatchEvent } from './types.js';

export interface ConfigKind<T, S, N extends string, I extends string> {
  /** What one item is called in messages: `route`, `service`, `policy`. */
  readonly noun: string;
  readonly prefix: string;
  readonly fields: ConfigFields<N, I>;
  /** The list field of an apply body (`{"routes":[…]}`) and an example of one item. */
  readonly listField: string;
  readonly example: string;
  /** At most this many items in one apply. */
  readonly maxApply: number;
  /** One transaction (one revision) for an apply, rather than one put each. */
  readonly transaction: boolean;
  /** Validate one item (the kind's zod schema; coded errors name the field). */
  parse(raw: unknown, field: string): T;
  nameOf(item: T): string;
  /** Validate a name from a URL. */
  checkName(name: string): void;
  notFound(name: string): TrellisError;
  /** The stored value: the item as validated, or as written. */
  encode(item: T, raw: unknown): string;
  decode(name: string, value: string, revision: number): S;
}

export interface ConfigWatchListener<E> {
  onEvent(event: E): void;
  onError(error: Error): void;
}

/** Which events a watcher sees. */
export interface ConfigWatchFilter<S> {
  /** Events about other names are not passed on at all. */
  readonly name?: (name: string) => boolean;
  /** A put of an item outside the filter is passed on as a delete (a follower drops it). */
  readonly item?: (item: S) => boolean;
  /** Deletes are passed on only when the item before them was inside `item` (else every delete is). */
  readonly deletesOfMatchesOnly?: boolean;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class ConfigKindStore<T, S, N extends string, I extends string> {
  readonly kind: ConfigKind<T, S, N, I>;
  readonly #store: KvStore;
  /** Each store event's values are decoded once, however many watchers see it. */
  readonly #decoded = new WeakMap<WatchEvent, { current: S | undefined; previous: S | undefined }>();

  constructor(store: KvStore, kind: ConfigKind<T, S, N, I>) {
    this.#store = store;
    this.kind = kind;
  }

  key(name: string): string {
    return `${this.kind.prefix}${name}`;
  }

  #decodeKv(kv: KeyValue): S {
    return this.kind.decode(kv.key.slice(this.kind.prefix.length), kv.value, kv.modRevision);
  }

  /** Validate an apply body `{ <listField>: [...] }` whole: each item, and no name twice. */
  validateAll(body: unknown): { items: T[]; raw: unknown[] } {
    const { listField, maxApply, example, noun } = this.kind;
    const raw = isMap(body) ? body[listField] : undefined;
    if (!Array.isArray(raw) || raw.length === 0 || raw.length > maxApply) {
      throw new TrellisError(ErrorCodes.VALIDATION, `${listField} must be a list of 1 to ${maxApply} entries, such as {"${listField}":[${example}]}`, { field: listField });
    }
    const items = raw.map((item, index) => this.kind.parse(item, `${listField}.${index}`));
    const seen = new Map<string, number>();
    for (const [index, item] of items.entries()) {
      const name = this.kind.nameOf(item);
      const other = seen.get(name);
      if (other !== undefined) {
        throw new TrellisError(ErrorCodes.VALIDATION, `${noun} ${JSON.stringify(name)} appears twice (also ${listField}.${other}): each ${noun} once — merge the two, or rename one`, { field: `${listField}.${index}.${this.kind.fields.nameField}` });
      }
      seen.set(name, index);
    }
    return { items, raw };
  }

  /** Validate every item, then write them all: bad input writes nothing. */
  async applyAll(body: unknown): Promise<{ written: Array<{ item: T; stored: S; created: boolean }>; revision: number }> {
    const { items, raw } = this.validateAll(body);
    const values = items.map((item, index) => this.kind.encode(item, raw[index]));
    const names = items.map((item) => this.kind.nameOf(item));
    if (this.kind.transaction) {
      const { revision, prevKvs } = await this.#store.txn(names.map((name, index) => ({ type: 'put', key: this.key(name), value: values[index] ?? '' })));
      return { written: items.map((item, index) => ({ item, stored: this.kind.decode(names[index] ?? '', values[index] ?? '', revision), created: prevKvs[index] === undefined })), revision };
    }
    const written = [];
    let revision = 0;
    for (const [index, item] of items.entries()) {
      const result = await this.#store.put(this.key(names[index] ?? ''), values[index] ?? '');
      revision = result.revision;
      written.push({ item, stored: this.kind.decode(names[index] ?? '', values[index] ?? '', result.revision), created: result.prevKv === undefined });
    }
    return { written, revision };
  }

  /** Create or replace one item already validated. */
  async putItem(item: T, raw: unknown): Promise<{ stored: S; created: boolean }> {
    const name = this.kind.nameOf(item);
    const value = this.kind.encode(item, raw);
    const { revision, prevKv } = await this.#store.put(this.key(name), value);
    return { stored: this.kind.decode(name, value, revision), created: prevKv === undefined };
  }

  async get(name: string): Promise<S> {
    this.kind.checkName(name);
    const { kv } = await this.#store.get(this.key(name));
    if (kv === undefined) throw this.kind.notFound(name);
    return this.#decodeKv(kv);
  }

  /** Every item, or those `keep` keeps, by name. */
  async list(keep?: (item: S) => boolean): Promise<{ items: S[]; revision: number }> {
    const { kvs, revision } = await this.#store.range(this.kind.prefix);
    const all = kvs.map((kv) => this.#decodeKv(kv));
    return { items: keep === undefined ? all : all.filter(keep), revision };
  }

  async delete(name: string): Promise<{ revision: number }> {
    this.kind.checkName(name);
    const { deleted, revision } = await this.#store.delete(this.key(name));
    if (deleted === 0) throw this.kind.notFound(name);
    return { revision };
  }

  #decodeEvent(e: WatchEvent, name: string): { current: S | undefined; previous: S | undefined } {
    let decoded = this.#decoded.get(e);
    if (decoded === undefined) {
      decoded = {
        current: e.value === undefined ? undefined : this.kind.decode(name, e.value, e.revision),
        previous: e.prevValue === undefined ? undefined : this.kind.decode(name, e.prevValue, e.revision),
      };
      this.#decoded.set(e, decoded);
    }
    return decoded;
  }

  /** Changes after `afterRevision`, as the kind's events, through `filter`. */
  watch(afterRevision: number, filter: ConfigWatchFilter<S>, listener: ConfigWatchListener<ConfigEvent<N, I, S>>): Promise<Watcher> {
    const { fields, prefix } = this.kind;
    return this.#store.watch(prefix, { afterRevision }, {
      onEvent: (e: WatchEvent) => {
        const name = e.key.slice(prefix.length);
        if (filter.name !== undefined && !filter.name(name)) return;
        const { current, previous } = this.#decodeEvent(e, name);
        if (current !== undefined && (filter.item === undefined || filter.item(current))) {
          listener.onEvent(configEvent(fields, e.revision, name, current));
          return;
        }
        if (filter.deletesOfMatchesOnly === true && (previous === undefined || (filter.item !== undefined && !filter.item(previous)))) return;
        listener.onEvent(configEvent<N, I, S>(fields, e.revision, name, undefined));
      },
      onError: (err) => listener.onError(err),
    });
  }
}
