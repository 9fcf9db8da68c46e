/**
 * The registry's aggregates: per service, how many instances and in which health, and per
 * instance what a heartbeat needs (its lease, whether its ttl check passes). Kept up to date by
 * the registry's own writes (read-your-writes on this replica) and by a watch of /services/
 * (writes of other replicas), so listing services, counting instances and /metrics cost
 * O(services), and a heartbeat costs no read. Loaded lazily, a page at a time with a turn of
 * the event loop between pages; a failed watch drops it, and the next use loads it again.
 */
import type { HealthStatus } from '../core/health.js';
import { walkPrefix } from '../store/pages.js';
import type { KvStore, LeaseId, Watcher } from '../store/types.js';
import { toRegistryEvent } from './events.js';
import { parseInstanceKey, SERVICES_PREFIX } from './keys.js';
import { TTL_CHECK_NAME } from './record.js';
import type { InstanceRecord, ServiceSummary } from './types.js';

export interface CatalogEntry {
  readonly service: string;
  readonly status: HealthStatus;
  readonly lease: LeaseId | null;
  readonly ttlMs: number | null;
  /** The ttl check passes (a heartbeat then only needs a lease keep-alive). */
  readonly ttlPassing: boolean;
  readonly revision: number;
}

/** Prune delete markers every this many watch events. */
const PRUNE_EVERY = 1_024;

export class Catalog {
  readonly #store: KvStore;
  readonly #entries = new Map<string, CatalogEntry>();
  readonly #services = new Map<string, ServiceSummary>();
  /** Key → revision of its delete, so an older put arriving later is not applied. */
  readonly #deleted = new Map<string, number>();
  /** This replica's writes in flight: key → the value written (the same string the watch event carries) and its record. */
  readonly #expected = new Map<string, { readonly value: string; readonly record: InstanceRecord }>();
  #loading: Promise<void> | undefined;
  #live = false;
  #watcher: Watcher | undefined;
  #closed = false;
  #sincePrune = 0;

  constructor(store: KvStore) {
    this.#store = store;
  }

  /** Loaded and following the store. */
  get live(): boolean {
    return this.#live;
  }

  /** Resolves once the catalog is loaded (loading it on first use). */
  ready(): Promise<void> {
    if (this.#live) return Promise.resolve();
    this.#loading ??= this.#load().catch((err: unknown) => {
      this.#loading = undefined;
      throw err;
    });
    return this.#loading;
  }

  /** Start loading without waiting (the heartbeat path uses the catalog once it is live). */
  warm(): void {
    this.ready().catch(() => undefined);
  }

  entry(service: string, id: string): CatalogEntry | undefined {
    return this.#live ? this.#entries.get(`${SERVICES_PREFIX}${service}/instances/${id}`) : undefined;
  }

  /** Every service with at least one instance, sorted by name. */
  services(): ServiceSummary[] {
    return [...this.#services.values()].map((s) => ({ ...s })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  service(name: string): ServiceSummary | undefined {
    const s = this.#services.get(name);
    return s === undefined ? undefined : { ...s };
  }

  /** Record the state of an instance key at `revision` (undefined: deleted). Older states are ignored. */
  apply(key: string, record: InstanceRecord | undefined, revision: number): void {
    const ref = parseInstanceKey(key);
    if (ref === undefined) return;
    if (this.#knows(key, revision)) return;
    const current = this.#entries.get(key);
    if (current !== undefined) this.#count(current, -1);
    if (record === undefined) {
      this.#entries.delete(key);
      this.#deleted.set(key, revision);
      return;
    }
    this.#deleted.delete(key);
    const entry: CatalogEntry = {
      service: ref.service,
      status: record.status,
      lease: record.lease,
      ttlMs: record.ttlMs,
      ttlPassing: record.checks.some((c) => c.name === TTL_CHECK_NAME && c.status === 'passing'),
      revision,
    };
    this.#entries.set(key, entry);
    this.#count(entry, 1);
  }

  /**
   * A write of `record` as `value` to `key` is about to be made: when its event comes back on
   * the watch, the record is applied as is (no JSON to parse). `done()` forgets it.
   */
  expect(key: string, value: string, record: InstanceRecord): () => void {
    const expected = { value, record };
    this.#expected.set(key, expected);
    return () => { if (this.#expected.get(key) === expected) this.#expected.delete(key); };
  }

  /** The state at `revision` (or a newer one) of `key` is applied already: this replica's own write, seen again on the watch. */
  #knows(key: string, revision: number): boolean {
    const current = this.#entries.get(key);
    if (current !== undefined && current.revision >= revision) return true;
    const deletedAt = this.#deleted.get(key);
    return deletedAt !== undefined && deletedAt >= revision;
  }

  close(): void {
    this.#closed = true;
    this.#watcher?.close();
  }

  #count(entry: CatalogEntry, delta: 1 | -1): void {
    let summary = this.#services.get(entry.service);
    if (summary === undefined) {
      summary = { name: entry.service, instances: 0, passing: 0, warning: 0, critical: 0 };
      this.#services.set(entry.service, summary);
    }
    summary.instances += delta;
    summary[entry.status] += delta;
    if (summary.instances === 0) this.#services.delete(entry.service);
  }

  async #load(): Promise<void> {
    this.#entries.clear();
    this.#services.clear();
    this.#deleted.clear();
    let revision = 0;
    for await (const page of walkPrefix(this.#store, SERVICES_PREFIX)) {
      revision = page.firstRevision;
      for (const kv of page.kvs) this.apply(kv.key, JSON.parse(kv.value) as InstanceRecord, kv.modRevision);
    }
    if (this.#closed) return;
    this.#watcher = await this.#store.watch(SERVICES_PREFIX, { afterRevision: revision }, {
      onEvent: (event) => {
        // Own writes come back as the very string written: no JSON to parse for them.
        const own = this.#expected.get(event.key);
        if (own !== undefined && event.value === own.value) {
          this.#expected.delete(event.key);
          this.apply(event.key, own.record, event.revision);
        } else if (!this.#knows(event.key, event.revision)) {
          const translated = toRegistryEvent(event);
          if (translated !== undefined) this.apply(event.key, translated.type === 'deregistered' ? undefined : translated.instance, event.revision);
        }
        if ((this.#sincePrune += 1) >= PRUNE_EVERY) this.#prune(event.revision);
      },
      onError: () => {
        // Reload on next use: a fresh listing and watch.
        this.#live = false;
        this.#loading = undefined;
        this.#watcher = undefined;
      },
    });
    this.#live = true;
  }

  /** Delete markers at or below a revision the watch has passed can no longer be needed. */
  #prune(revision: number): void {
    this.#sincePrune = 0;
    for (const [key, at] of this.#deleted) if (at <= revision) this.#deleted.delete(key);
  }
}
