/**
 * The service registry, built only on the KvStore interface (any backend).
 * Writes go to one key per instance; heartbeats are lease keep-alives and write nothing.
 */
import { ErrorCodes, TrellisError } from '../errors.js';
import type { HealthStatus } from '../core/health.js';
import type { KeyValue, KvStore, LeaseId, Watcher, WatchEvent } from '../store/types.js';
import { formatDuration } from '../util/duration.js';
import {
  heartbeatKey, instanceKey, parseInstanceKey, servicePrefix, SERVICES_PREFIX,
} from './keys.js';
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

function decode(kv: KeyValue): Instance {
  return { ...(JSON.parse(kv.value) as InstanceRecord), revision: kv.modRevision };
}

/**
 * Store events are shared by every watcher of a prefix: translate each once, however many
 * watchers there are (1,000 watchers must not parse the same JSON 1,000 times).
 */
const translated = new WeakMap<WatchEvent, RegistryEvent | null>();

function toRegistryEvent(e: WatchEvent): RegistryEvent | undefined {
  const cached = translated.get(e);
  if (cached !== undefined) return cached ?? undefined;
  const ref = parseInstanceKey(e.key);
  const previous = e.prevValue === undefined ? undefined : (JSON.parse(e.prevValue) as InstanceRecord);
  const current = e.value === undefined ? undefined : (JSON.parse(e.value) as InstanceRecord);
  const instance = current ?? previous;
  const event: RegistryEvent | null = ref === undefined || instance === undefined ? null : Object.freeze({
    revision: e.revision,
    type: e.type === 'delete' ? 'deregistered' : previous === undefined ? 'registered' : 'updated',
    service: ref.service,
    id: ref.id,
    instance,
    previousStatus: previous?.status ?? null,
    statusChanged: previous !== undefined && current !== undefined && previous.status !== current.status,
  });
  translated.set(e, event);
  return event ?? undefined;
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

  constructor(store: KvStore, options: RegistryOptions = {}) {
    this.#store = store;
    this.#now = options.now ?? Date.now;
  }

  get store(): KvStore {
    return this.#store;
  }

  /** Register or re-register an instance. Validates everything before writing anything. */
  async register(service: string, id: string, body: unknown): Promise<RegisterResult> {
    parseOrThrow(serviceNameSchema, service, 'service');
    parseOrThrow(instanceIdSchema, id, 'id');
    const valid = parseOrThrow(registrationBodySchema, body);

    let lease: LeaseId | null = null;
    // Issued together, with no read first, so that a store with group commit makes a
    // registration durable in one commit. The previous record comes back from the put.
    const writes: Array<Promise<{ revision: number }>> = [];
    if (valid.ttl !== undefined) {
      lease = (await this.#store.grantLease(valid.ttl)).id;
      writes.push(this.#store.put(heartbeatKey(service, id), lease, { lease }));
    } else {
      writes.push(this.#store.delete(heartbeatKey(service, id))); // no-op unless it had a TTL before
    }
    const record = newRecord(service, id, valid, lease, new Date(this.#now()));
    const instanceWrite = this.#store.put(instanceKey(service, id), JSON.stringify(record));
    const [, { revision, prevKv }] = await Promise.all([Promise.all(writes), instanceWrite]);
    const previous = prevKv === undefined ? undefined : decode(prevKv);
    if (previous?.lease) await this.#revokeQuietly(previous.lease);
    return { instance: { ...record, revision }, created: previous === undefined };
  }

  async deregister(service: string, id: string): Promise<{ revision: number }> {
    const existing = await this.get(service, id);
    const { deleted, revision } = await this.#store.delete(instanceKey(service, id));
    if (deleted === 0) throw instanceNotFound(service, id);
    if (existing.lease) await this.#revokeQuietly(existing.lease);
    return { revision };
  }

  /** A TTL heartbeat: a lease keep-alive. Writes only when the instance was critical. */
  async heartbeat(service: string, id: string): Promise<HeartbeatResult> {
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

  async listInstances(service: string, options: { healthyOnly?: boolean } = {}): Promise<{ instances: Instance[]; revision: number }> {
    parseOrThrow(serviceNameSchema, service, 'service');
    const { kvs, revision } = await this.#store.range(servicePrefix(service));
    const all = kvs.map(decode);
    return { instances: options.healthyOnly ? all.filter(isHealthy) : all, revision };
  }

  async listAll(): Promise<{ instances: Instance[]; revision: number }> {
    const { kvs, revision } = await this.#store.range(SERVICES_PREFIX);
    return { instances: kvs.filter((kv) => parseInstanceKey(kv.key) !== undefined).map(decode), revision };
  }

  async listServices(): Promise<{ services: ServiceSummary[]; revision: number }> {
    const { instances, revision } = await this.listAll();
    const byName = new Map<string, ServiceSummary>();
    for (const i of instances) {
      const s = byName.get(i.service) ?? { name: i.service, instances: 0, passing: 0, warning: 0, critical: 0 };
      s.instances += 1;
      s[i.status] += 1;
      byName.set(i.service, s);
    }
    return { services: [...byName.values()].sort((a, b) => a.name.localeCompare(b.name)), revision };
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
      await this.#store.delete(instanceKey(service, id), { ifModRevision: revision });
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
