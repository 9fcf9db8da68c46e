/**
 * The service registry, built only on the KvStore interface (any backend).
 * Writes go to one key per instance; heartbeats are lease keep-alives and write nothing.
 */
import { ErrorCodes, TrellisError } from '../errors.js';
import type { HealthStatus } from '../core/health.js';
import { walkPrefix } from '../store/pages.js';
import type { KeyValue, KvStore, LeaseId, TxnOp, Watcher, WatchEvent } from '../store/types.js';
import { formatDuration } from '../util/duration.js';
import {
  heartbeatKey, instanceKey, parseInstanceKey, servicePrefix, SERVICES_PREFIX,
} from './keys.js';
import { Catalog } from './catalog.js';
import { toRegistryEvent } from './events.js';
import { newRecord, TTL_CHECK_NAME, withCheckStatus } from './record.js';
import { instanceIdSchema, parseOrThrow, registrationBodySchema, serviceNameSchema } from './schema.js';
import type { Instance, InstanceRecord, RegistryEvent, ServiceSummary } from './types.js';
import { isHealthy } from './types.js';

export interface RegistryOptions {
  now?: () => number;
}

export interface RegisterResult {
  instance: Instance;
  created: boolean;
}

export interface HeartbeatResult {
  status: HealthStatus;
  ttlMs: number;
  revision: number;
}

export interface RegistryWatchListener {
  onEvent(event: RegistryEvent): void;
  onError(error: Error): void;
}

/** Compare-and-swap retries before giving up on a hot key. */
const MAX_CAS_ATTEMPTS = 20;
/** The largest page a caller may ask for. */
export const MAX_PAGE_LIMIT = 1_000;

export interface Page {
  /** Only keys after this one (the last of the previous page). */
  after?: string;
  limit: number;
}

export interface InstancePage {
  instances: Instance[];
  revision: number;
  /** The store key of the last instance, to pass as `after` for the next page; undefined when this was the last page. */
  next: string | undefined;
}

/** One instance of a bulk call: its service, id and (registrations) body. */
export interface BulkItem {
  service: string;
  id: string;
}

export type BulkOutcome<T> = ({ ok: true } & T) | { ok: false; error: TrellisError };

function decode(kv: KeyValue): Instance {
  return { ...(JSON.parse(kv.value) as InstanceRecord), revision: kv.modRevision };
}

type ValidBody = ReturnType<typeof registrationBodySchema.parse>;

/** Items of a bulk call handled together before a turn of the event loop. */
const BULK_SLICE = 100;

/** `fn` over `items`, BULK_SLICE at a time (concurrently within a slice), yielding between slices. */
async function inSlices<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let start = 0; start < items.length; start += BULK_SLICE) {
    if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    out.push(...await Promise.all(items.slice(start, start + BULK_SLICE).map(fn)));
  }
  return out;
}

function asTrellisError(err: unknown, code: typeof ErrorCodes.VALIDATION | typeof ErrorCodes.INTERNAL): TrellisError {
  return err instanceof TrellisError ? err : new TrellisError(code, String(err));
}

function instanceNotFound(service: string, id: string): TrellisError {
  return new TrellisError(
    ErrorCodes.INSTANCE_NOT_FOUND,
    `instance "${id}" of service "${service}" is not registered (register it first, or it was deregistered after being critical too long)`,
    { field: 'id' },
  );
}

export class Registry {
  readonly #store: KvStore;
  readonly #now: () => number;
  readonly #catalog: Catalog;

  constructor(store: KvStore, options: RegistryOptions = {}) {
    this.#store = store;
    this.#now = options.now ?? Date.now;
    this.#catalog = new Catalog(store);
  }

  /** Load the aggregates now (in the background) rather than on the first list or heartbeat. */
  warm(): void {
    this.#catalog.warm();
  }

  /** Stop following the store (the catalog's watch). */
  close(): void {
    this.#catalog.close();
  }

  get store(): KvStore {
    return this.#store;
  }

  /** Register or re-register an instance. Validates everything before writing anything. */
  async register(service: string, id: string, body: unknown): Promise<RegisterResult> {
    parseOrThrow(serviceNameSchema, service, 'service');
    parseOrThrow(instanceIdSchema, id, 'id');
    const valid = parseOrThrow(registrationBodySchema, body);

    return this.#write(service, id, valid);
  }

  /**
   * Register many instances in one call. Every body is validated first; each valid one is then
   * written (concurrently: a store with group commit makes them durable in a few commits).
   * Outcomes are per item, in order.
   */
  async registerMany(items: ReadonlyArray<BulkItem & { body: unknown }>): Promise<Array<BulkOutcome<RegisterResult>>> {
    // Validated first (all of them), in slices so that a large call never blocks others.
    type Checked = { item: BulkItem; valid: ValidBody | undefined; error: TrellisError | undefined };
    const checked = await inSlices(items, (item): Promise<Checked> => {
      try {
        parseOrThrow(serviceNameSchema, item.service, 'service');
        parseOrThrow(instanceIdSchema, item.id, 'id');
        return Promise.resolve({ item, valid: parseOrThrow(registrationBodySchema, item.body), error: undefined });
      } catch (err) {
        return Promise.resolve({ item, valid: undefined, error: asTrellisError(err, ErrorCodes.VALIDATION) });
      }
    });
    return inSlices(checked, async (c): Promise<BulkOutcome<RegisterResult>> => {
      if (c.valid === undefined) return { ok: false, error: c.error ?? new TrellisError(ErrorCodes.VALIDATION, 'invalid registration') };
      try {
        return { ok: true, ...(await this.#write(c.item.service, c.item.id, c.valid)) };
      } catch (err) {
        return { ok: false, error: asTrellisError(err, ErrorCodes.INTERNAL) };
      }
    });
  }

  /** Heartbeats of many instances in one call; outcomes per item, in order. */
  async heartbeatMany(items: readonly BulkItem[]): Promise<Array<BulkOutcome<HeartbeatResult>>> {
    return inSlices(items, async (item): Promise<BulkOutcome<HeartbeatResult>> => {
      try {
        return { ok: true, ...(await this.heartbeat(item.service, item.id)) };
      } catch (err) {
        return { ok: false, error: asTrellisError(err, ErrorCodes.INTERNAL) };
      }
    });
  }

  /**
   * One registration as one store transaction (one revision): the heartbeat key on a new lease
   * (or its removal) and the instance record. The previous record comes back from the txn.
   */
  async #write(service: string, id: string, valid: ValidBody): Promise<RegisterResult> {
    let lease: LeaseId | null = null;
    const ops: TxnOp[] = [];
    if (valid.ttl !== undefined) {
      lease = (await this.#store.grantLease(valid.ttl)).id;
      ops.push({ type: 'put', key: heartbeatKey(service, id), value: lease, lease });
    } else {
      ops.push({ type: 'delete', key: heartbeatKey(service, id) }); // a no-op unless it had a TTL before
    }
    const record = newRecord(service, id, valid, lease, new Date(this.#now()));
    const key = instanceKey(service, id);
    const value = JSON.stringify(record);
    ops.push({ type: 'put', key, value });
    const done = this.#catalog.expect(key, value, record);
    let answer;
    try {
      answer = await this.#store.txn(ops);
    } finally {
      done();
    }
    const { revision, prevKvs } = answer;
    this.#catalog.apply(key, record, revision);
    const prevKv = prevKvs[prevKvs.length - 1];
    const previous = prevKv === undefined ? undefined : decode(prevKv);
    if (previous?.lease) await this.#revokeQuietly(previous.lease);
    return { instance: { ...record, revision }, created: previous === undefined };
  }

  async deregister(service: string, id: string): Promise<{ revision: number }> {
    const existing = await this.get(service, id);
    const { deleted, revision } = await this.#store.delete(instanceKey(service, id));
    if (deleted === 0) throw instanceNotFound(service, id);
    this.#catalog.apply(instanceKey(service, id), undefined, revision);
    if (existing.lease) await this.#revokeQuietly(existing.lease);
    return { revision };
  }

  /** A TTL heartbeat: a lease keep-alive. Writes only when the instance was critical. */
  async heartbeat(service: string, id: string): Promise<HeartbeatResult> {
    // The fast path: the catalog knows the lease and that the ttl check passes, so a
    // heartbeat is one in-memory lease keep-alive, with no read.
    const known = this.#catalog.entry(service, id);
    if (known === undefined) this.#catalog.warm();
    else if (known.lease !== null && known.ttlMs !== null && known.ttlPassing) {
      try {
        await this.#store.keepAlive(known.lease);
        return { status: known.status, ttlMs: known.ttlMs, revision: known.revision };
      } catch (err) {
        if (!(err instanceof TrellisError && err.code === ErrorCodes.LEASE_NOT_FOUND)) throw err;
      }
    }
    const instance = await this.get(service, id);
    if (instance.ttlMs === null) {
      throw new TrellisError(
        ErrorCodes.VALIDATION,
        `instance "${id}" of service "${service}" was registered without a ttl, so it takes no heartbeats (re-register it with "ttl", e.g. "10s")`,
        { field: 'ttl' },
      );
    }
    if (instance.lease !== null) {
      try {
        await this.#store.keepAlive(instance.lease);
        const ttlCheck = instance.checks.find((c) => c.name === TTL_CHECK_NAME);
        if (ttlCheck?.status === 'passing') {
          return { status: instance.status, ttlMs: instance.ttlMs, revision: instance.revision };
        }
      } catch (err) {
        if (!(err instanceof TrellisError && err.code === ErrorCodes.LEASE_NOT_FOUND)) throw err;
      }
    }
    // The lease expired (the instance went critical) or the check is not passing: renew it.
    const ttlMs = instance.ttlMs;
    const lease = (await this.#store.grantLease(ttlMs)).id;
    await this.#store.put(heartbeatKey(service, id), lease, { lease });
    const updated = await this.#mutate(service, id, (record) => {
      const next = withCheckStatus(record, TTL_CHECK_NAME, 'passing', 'heartbeat received', new Date(this.#now()))
        ?? { ...record };
      return { ...next, lease };
    });
    if (instance.lease !== null && instance.lease !== lease) await this.#revokeQuietly(instance.lease);
    return { status: updated.status, ttlMs, revision: updated.revision };
  }

  async get(service: string, id: string): Promise<Instance> {
    parseOrThrow(serviceNameSchema, service, 'service');
    parseOrThrow(instanceIdSchema, id, 'id');
    const { kv } = await this.#store.get(instanceKey(service, id));
    if (kv === undefined) throw instanceNotFound(service, id);
    return decode(kv);
  }

  /** The store's revision now: watch after it for "changes from now on". One cheap read
   * (status() may count every key and lease, which a busy store should not do per watcher). */
  async currentRevision(): Promise<number> {
    return (await this.#store.get(SERVICES_PREFIX)).revision;
  }

  /** Every instance of a service; walked a page at a time, yielding to the event loop between pages. */
  async listInstances(service: string, options: { healthyOnly?: boolean } = {}): Promise<{ instances: Instance[]; revision: number }> {
    parseOrThrow(serviceNameSchema, service, 'service');
    const { instances, revision } = await this.#walk(servicePrefix(service));
    return { instances: options.healthyOnly ? instances.filter(isHealthy) : instances, revision };
  }

  /**
   * One page of a service's instances (or of every instance, without a service). The revision
   * is the store's at this read; a client paging through a list watches from its first page's.
   */
  async pageInstances(service: string | undefined, page: Page, options: { healthyOnly?: boolean } = {}): Promise<InstancePage> {
    if (service !== undefined) parseOrThrow(serviceNameSchema, service, 'service');
    const prefix = service === undefined ? SERVICES_PREFIX : servicePrefix(service);
    const { kvs, revision, more } = await this.#store.range(prefix, { limit: page.limit, ...(page.after === undefined ? {} : { after: page.after }) });
    const all = kvs.filter((kv) => parseInstanceKey(kv.key) !== undefined).map(decode);
    return { instances: options.healthyOnly ? all.filter(isHealthy) : all, revision, next: more ? kvs[kvs.length - 1]?.key : undefined };
  }

  /**
   * pageInstances as JSON text, each instance its stored JSON with its revision added — no
   * parse and re-serialise per instance, so a page costs little more than reading it.
   */
  async pageInstancesJson(service: string | undefined, page: Page, options: { healthyOnly?: boolean } = {}): Promise<{ instances: string[]; revision: number; next: string | undefined }> {
    if (options.healthyOnly === true) {
      const decoded = await this.pageInstances(service, page, options);
      return { ...decoded, instances: decoded.instances.map((i) => JSON.stringify(i)) };
    }
    if (service !== undefined) parseOrThrow(serviceNameSchema, service, 'service');
    const prefix = service === undefined ? SERVICES_PREFIX : servicePrefix(service);
    const { kvs, revision, more } = await this.#store.range(prefix, { limit: page.limit, ...(page.after === undefined ? {} : { after: page.after }) });
    const instances = kvs.filter((kv) => parseInstanceKey(kv.key) !== undefined)
      .map((kv) => `${kv.value.slice(0, kv.value.lastIndexOf('}'))},"revision":${kv.modRevision}}`);
    return { instances, revision, next: more ? kvs[kvs.length - 1]?.key : undefined };
  }

  /** Every instance; walked a page at a time (the revision is the first page's: watch from it). */
  async listAll(): Promise<{ instances: Instance[]; revision: number }> {
    return this.#walk(SERVICES_PREFIX);
  }

  /** From the catalog: O(services), whatever the number of instances. */
  async listServices(): Promise<{ services: ServiceSummary[]; revision: number }> {
    await this.#catalog.ready();
    return { services: this.#catalog.services(), revision: await this.currentRevision() };
  }

  /** One service's counts, from the catalog; SERVICE_NOT_FOUND when it has no instance. */
  async serviceSummary(service: string): Promise<{ service: ServiceSummary; revision: number }> {
    parseOrThrow(serviceNameSchema, service, 'service');
    await this.#catalog.ready();
    const summary = this.#catalog.service(service);
    if (summary === undefined) {
      throw new TrellisError(ErrorCodes.SERVICE_NOT_FOUND, `service "${service}" has no registered instance (see \`trellis services\`)`, { field: 'service' });
    }
    return { service: summary, revision: await this.currentRevision() };
  }

  async #walk(prefix: string): Promise<{ instances: Instance[]; revision: number }> {
    const instances: Instance[] = [];
    let revision = 0;
    for await (const page of walkPrefix(this.#store, prefix)) {
      revision = page.firstRevision;
      for (const kv of page.kvs) if (parseInstanceKey(kv.key) !== undefined) instances.push(decode(kv));
    }
    return { instances, revision };
  }

  /**
   * Record a check's new status (from the TTL monitor or an active check).
   * Writes only when the status changes; a no-op for an unknown instance or check.
   */
  async setCheckStatus(service: string, id: string, checkName: string, status: HealthStatus, output: string): Promise<Instance | undefined> {
    try {
      return await this.#mutate(service, id, (record) => withCheckStatus(record, checkName, status, output, new Date(this.#now())));
    } catch (err) {
      if (err instanceof TrellisError && err.code === ErrorCodes.INSTANCE_NOT_FOUND) return undefined;
      throw err;
    }
  }

  /** The heartbeat lease `lease` expired: mark the TTL check critical unless a newer lease replaced it. */
  async heartbeatExpired(service: string, id: string, lease: LeaseId): Promise<Instance | undefined> {
    try {
      return await this.#mutate(service, id, (record) => record.lease !== lease || record.ttlMs === null
        ? undefined
        : withCheckStatus(record, TTL_CHECK_NAME, 'critical', `no heartbeat within the ttl of ${formatDuration(record.ttlMs)}`, new Date(this.#now())));
    } catch (err) {
      if (err instanceof TrellisError && err.code === ErrorCodes.INSTANCE_NOT_FOUND) return undefined;
      throw err;
    }
  }

  /**
   * Deregister an instance that has been critical too long, unless it changed since
   * `revision` (it recovered, or was re-registered). Returns whether it was removed.
   */
  async deregisterIfUnchanged(service: string, id: string, revision: number, lease: LeaseId | null): Promise<boolean> {
    try {
      const deleted = await this.#store.delete(instanceKey(service, id), { ifModRevision: revision });
      this.#catalog.apply(instanceKey(service, id), undefined, deleted.revision);
    } catch (err) {
      if (err instanceof TrellisError && err.code === ErrorCodes.CONFLICT) return false;
      throw err;
    }
    if (lease) await this.#revokeQuietly(lease);
    return true;
  }

  /**
   * Watch registry changes after a revision, for one service or all. Every status change,
   * registration and deregistration is an event; none is missed or repeated.
   */
  watch(options: { afterRevision: number; service?: string }, listener: RegistryWatchListener): Promise<Watcher> {
    if (options.service !== undefined) parseOrThrow(serviceNameSchema, options.service, 'service');
    const prefix = options.service === undefined ? SERVICES_PREFIX : servicePrefix(options.service);
    return this.#store.watch(prefix, { afterRevision: options.afterRevision }, {
      onEvent: (e) => {
        const event = toRegistryEvent(e);
        if (event !== undefined) listener.onEvent(event);
      },
      onError: (err) => listener.onError(err),
    });
  }

  /** Read-modify-write with compare-and-swap; `change` returns undefined for "nothing to write". */
  async #mutate(service: string, id: string, change: (record: InstanceRecord) => InstanceRecord | undefined): Promise<Instance> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt += 1) {
      const { kv } = await this.#store.get(instanceKey(service, id));
      if (kv === undefined) throw instanceNotFound(service, id);
      const current = decode(kv);
      const { revision: _revision, ...record } = current;
      const next = change(record);
      if (next === undefined) return current;
      try {
        const { revision } = await this.#store.put(instanceKey(service, id), JSON.stringify(next), { ifModRevision: kv.modRevision });
        this.#catalog.apply(instanceKey(service, id), next, revision);
        return { ...next, revision };
      } catch (err) {
        if (!(err instanceof TrellisError && err.code === ErrorCodes.CONFLICT)) throw err;
      }
    }
    throw new TrellisError(ErrorCodes.CONFLICT, `instance "${id}" of service "${service}" changed concurrently too often; try again`);
  }

  async #revokeQuietly(lease: LeaseId): Promise<void> {
    try {
      await this.#store.revokeLease(lease);
    } catch (err) {
      if (!(err instanceof TrellisError && err.code === ErrorCodes.LEASE_NOT_FOUND)) throw err;
    }
  }
}
