/**
 * The KvStore on an etcd v3 cluster. etcd is the model the interface was drawn after, so most
 * calls are one etcd RPC: keys and revisions are etcd's, a lease is an etcd lease (a heartbeat
 * is its keep-alive), a watch is an etcd watch from a revision. Differences, kept here:
 * lease TTLs are whole seconds in etcd (a request is rounded up, and the grant says what was
 * given); leases and compaction are cluster-wide while keys live under the namespace prefix.
 * Reads that fail for want of a leader are answered from the member's own copy (a serializable
 * read), so a control plane that lost etcd's quorum still serves what it can.
 */
import type { Etcd3, IRangeRequest, IRangeResponse, IRequestOp } from 'etcd3';
import { ErrorCodes, TrellisError } from '../../errors.js';
import type {
  DeleteOptions, DeletePrefixResult, DeleteResult, GetResult, KvStore, LeaseGrant, LeaseId, LeaseInfo,
  PutOptions, PutResult, RangeOptions, RangeResult, StoreStatus, TxnCompare, TxnOp, TxnResult, WatchListener, WatchOptions, Watcher,
} from '../types.js';
import { CompactionTracker } from './compaction.js';
import { isCompactedError, leaseNotFound, toStoreError } from './errors.js';
import { KeepAliveChannel } from './keep-alive.js';
import { KeyNamespace, toEtcdLease } from './keys.js';
import { withRetry } from './retry.js';
import { EtcdWatch } from './watch.js';
import { WatchHub } from './watch-hub.js';

/** Retries of a member-local read (a dead member refuses at once; another one answers). */
const LOCAL_READ_BUDGET_MS = 500;
/** How stale status()'s lease count may be. */
const LEASE_COUNT_MAX_AGE_MS = 5_000;

export interface EtcdStoreSettings {
  /** host:port list, for messages. */
  endpoints: string[];
  prefix: string;
  callTimeoutMs: number;
}

export class EtcdStore implements KvStore {
  readonly backend = 'etcd';
  readonly #client: Etcd3;
  readonly #ns: KeyNamespace;
  readonly #endpoints: string;
  readonly #timeoutMs: number;
  readonly #keepAlive: KeepAliveChannel;
  readonly #compaction: CompactionTracker;
  readonly #watches = new Set<EtcdWatch>();
  readonly #hub: WatchHub;
  #closed = false;
  #leaseCount: { count: number; at: number } | undefined;
  /** A linearizable read failed: reads go to a member's own copy until one works again. */
  #degraded = false;
  #probing = false;

  constructor(client: Etcd3, settings: EtcdStoreSettings) {
    this.#client = client;
    this.#ns = new KeyNamespace(settings.prefix);
    this.#endpoints = settings.endpoints.join(',');
    this.#timeoutMs = settings.callTimeoutMs;
    this.#keepAlive = new KeepAliveChannel(client, settings.callTimeoutMs);
    this.#compaction = new CompactionTracker(client, this.#ns.key('\0compaction-probe'));
    this.#hub = new WatchHub({
      open: (prefix, afterRevision, feed) => this.#openEtcdWatch(prefix, afterRevision, feed, (revision) => feed.progress(revision)),
    });
  }

  async get(key: string): Promise<GetResult> {
    const res = await this.#read(`get ${key}`, { key: this.#ns.key(key) });
    const kv = res.kvs[0];
    return { kv: kv === undefined ? undefined : this.#ns.toKeyValue(kv), revision: Number(res.header.revision) };
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    const { limit, after } = options;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
      throw new TrellisError(ErrorCodes.VALIDATION, `limit must be a whole number ≥ 1 (got ${String(limit)})`, { field: 'limit' });
    }
    const whole = this.#ns.range(prefix);
    // After a key: from the smallest key greater than it (the key and a NUL byte).
    const from = after === undefined ? whole.key : Buffer.concat([this.#ns.key(after), Buffer.from([0])]);
    const key = Buffer.compare(from, whole.key) > 0 ? from : whole.key;
    const res = await this.#read(`range ${prefix}`, { key, range_end: whole.range_end, ...(limit === undefined ? {} : { limit }) });
    return { kvs: res.kvs.map((kv) => this.#ns.toKeyValue(kv)), revision: Number(res.header.revision), more: res.more };
  }

  async put(key: string, value: string, options: PutOptions = {}): Promise<PutResult> {
    const request = { key: this.#ns.key(key), value: Buffer.from(value), prev_kv: true, ...this.#leaseField(options.lease) };
    if (options.ifModRevision === undefined) {
      const res = await this.#call(`put ${key}`, () => this.#client.kv.put(request));
      return { revision: Number(res.header.revision), prevKv: res.prev_kv ? this.#ns.toKeyValue(res.prev_kv) : undefined };
    }
    const res = await this.#swap(key, options.ifModRevision, { request_put: request });
    const prev = res.response_put.prev_kv;
    return { revision: res.revision, prevKv: prev ? this.#ns.toKeyValue(prev) : undefined };
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    const request = { key: this.#ns.key(key), prev_kv: true };
    const res = options.ifModRevision === undefined
      ? await this.#call(`delete ${key}`, () => this.#client.kv.deleteRange(request))
      : { ...(await this.#swap(key, options.ifModRevision, { request_delete_range: request })).response_delete_range };
    const prev = res.prev_kvs[0];
    return { revision: Number(res.header.revision), deleted: Number(res.deleted), prevKv: prev ? this.#ns.toKeyValue(prev) : undefined };
  }

  /** One etcd txn: the compares on mod_revision, then every op with prev_kv. */
  async txn(ops: readonly TxnOp[], compares: readonly TxnCompare[] = []): Promise<TxnResult> {
    if (!Array.isArray(ops) || ops.length === 0) throw new TrellisError(ErrorCodes.VALIDATION, 'a transaction needs at least one op', { field: 'ops' });
    if (new Set(ops.map((op) => op.key)).size !== ops.length) {
      throw new TrellisError(ErrorCodes.VALIDATION, 'a key appears in more than one op of the transaction', { field: 'ops' });
    }
    const requests: IRequestOp[] = ops.map((op) => op.type === 'put'
      ? { request_put: { key: this.#ns.key(op.key), value: Buffer.from(op.value), prev_kv: true, ...this.#leaseField(op.lease) } }
      : { request_delete_range: { key: this.#ns.key(op.key), prev_kv: true } });
    const res = await this.#call('a transaction', () => this.#client.kv.txn({
      compare: compares.map((c) => ({ key: this.#ns.key(c.key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: c.modRevision })),
      success: requests,
    }));
    if (!res.succeeded) {
      const keys = compares.map((c) => c.key).join(', ');
      throw new TrellisError(ErrorCodes.CONFLICT, `a transaction's condition failed: ${keys} changed (read again and retry)`, { details: { revision: Number(res.header.revision) } });
    }
    const prevKvs = res.responses.map((r) => {
      const prev = r.response_put?.prev_kv ?? r.response_delete_range?.prev_kvs[0];
      return prev ? this.#ns.toKeyValue(prev) : undefined;
    });
    return { revision: Number(res.header.revision), prevKvs };
  }

  async deletePrefix(prefix: string): Promise<DeletePrefixResult> {
    const res = await this.#call(`delete ${prefix}*`, () => this.#client.kv.deleteRange(this.#ns.range(prefix)));
    return { revision: Number(res.header.revision), deleted: Number(res.deleted) };
  }

  async grantLease(ttlMs: number): Promise<LeaseGrant> {
    if (!Number.isFinite(ttlMs) || ttlMs < 1) {
      throw new TrellisError(ErrorCodes.VALIDATION, `a lease TTL must be at least 1 ms (got ${ttlMs})`, { field: 'ttl' });
    }
    const res = await this.#call('grant a lease', () => this.#client.leaseClient.leaseGrant({ TTL: Math.ceil(ttlMs / 1_000), ID: 0 }));
    if (res.error) throw new TrellisError(ErrorCodes.STORE_UNAVAILABLE, `etcd refused a lease: ${res.error}`);
    if (this.#leaseCount !== undefined) this.#leaseCount.count += 1;
    return { id: BigInt(res.ID).toString(16), ttlMs: Number(res.TTL) * 1_000 };
  }

  async keepAlive(id: LeaseId): Promise<LeaseGrant> {
    const etcdId = this.#lease(id);
    const ttl = await this.#call(`keep lease ${id} alive`, () => this.#keepAlive.renew(etcdId));
    if (ttl <= 0) throw leaseNotFound(id);
    return { id, ttlMs: ttl * 1_000 };
  }

  async revokeLease(id: LeaseId): Promise<DeletePrefixResult> {
    const info = await this.leaseInfo(id);
    if (info === undefined) throw leaseNotFound(id);
    const etcdId = this.#lease(id);
    const res = await this.#call(`revoke lease ${id}`, () => this.#client.leaseClient.leaseRevoke({ ID: etcdId }));
    if (this.#leaseCount !== undefined) this.#leaseCount.count = Math.max(0, this.#leaseCount.count - 1);
    return { revision: Number(res.header.revision), deleted: info.keys.length };
  }

  async leaseInfo(id: LeaseId): Promise<LeaseInfo | undefined> {
    this.#check();
    const etcdId = toEtcdLease(id);
    if (etcdId === undefined) return undefined;
    const res = await this.#call(`look up lease ${id}`, () => this.#client.leaseClient.leaseTimeToLive({ ID: etcdId, keys: true }));
    const remaining = Number(res.TTL);
    if (remaining < 0) return undefined;
    const keys = res.keys.filter((k) => this.#ns.has(k)).sort(Buffer.compare).map((k) => this.#ns.strip(k));
    return { id, ttlMs: Number(res.grantedTTL) * 1_000, remainingMs: Math.max(0, remaining * 1_000), keys };
  }

  async watch(prefix: string, options: WatchOptions, listener: WatchListener): Promise<Watcher> {
    this.#check();
    const after = options.afterRevision;
    const future = async (revision: number): Promise<void> => {
      if (after > revision) {
        throw new TrellisError(ErrorCodes.INVALID_REVISION,
          `cannot watch from revision ${after}: the store is only at revision ${revision}`, { field: 'afterRevision', details: { revision } });
      }
    };
    const start = async (): Promise<void> => {
      const { revision, compactRevision } = await this.#revisions();
      await future(revision);
      if (after < compactRevision) throw this.#compacted(after, compactRevision);
    };
    const joined = await this.#hub.join(prefix, after, listener, {
      start,
      future: async () => future(Number((await this.#read('read the revision', { ...this.#ns.range(''), count_only: true })).header.revision)),
    });
    if (joined !== undefined) {
      if (this.#closed) {
        joined.close();
        throw this.#closedError();
      }
      return joined;
    }
    // Older than the shared feed remembers: an etcd watch of its own.
    await start();
    return this.#openEtcdWatch(prefix, after, listener);
  }

  async #openEtcdWatch(prefix: string, afterRevision: number, listener: WatchListener, onProgress?: (revision: number) => void): Promise<EtcdWatch> {
    const watch = await EtcdWatch.start({
      client: this.#client,
      namespace: this.#ns,
      prefix,
      afterRevision,
      listener,
      timeoutMs: this.#timeoutMs,
      describe: (err) => this.#describeWatchError(err, afterRevision),
      onEnd: (w) => this.#watches.delete(w),
      ...(onProgress === undefined ? {} : { onProgress }),
    });
    if (this.#closed) {
      watch.close();
      throw this.#closedError();
    }
    this.#watches.add(watch);
    return watch;
  }

  async compact(revision: number): Promise<void> {
    const current = (await this.#revisions()).revision;
    if (revision > current) {
      throw new TrellisError(ErrorCodes.INVALID_REVISION, `cannot compact to revision ${revision}: the store is only at revision ${current}`, { field: 'revision' });
    }
    try {
      await this.#call(`compact to ${revision}`, () => this.#client.kv.compact({ revision, physical: false }));
    } catch (err) {
      if (!(err instanceof TrellisError && isCompactedError(err.cause))) throw err;
      return; // already compacted at or past it
    }
    this.#compaction.compacted(revision);
  }

  /**
   * Always a linearizable read: a cluster without quorum reports itself unavailable here. The
   * lease count lists every lease of the cluster, so it is refreshed at most every
   * LEASE_COUNT_MAX_AGE_MS (a status at 100,000 leases must not list them all each time); in
   * between, this store's own grants and revocations are counted (expiries and other clients'
   * leases show at the next refresh).
   */
  async status(): Promise<StoreStatus> {
    const { revision, compactRevision, keys } = await this.#revisions(true);
    const now = performance.now();
    if (this.#leaseCount === undefined || now - this.#leaseCount.at > LEASE_COUNT_MAX_AGE_MS) {
      const leases = await this.#call('list leases', () => this.#client.leaseClient.leaseLeases());
      this.#leaseCount = { count: leases.leases.length, at: now };
    }
    return { backend: this.backend, revision, compactRevision, leases: this.#leaseCount.count, keys };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const error = this.#closedError();
    for (const watch of [...this.#watches]) watch.fail(error);
    this.#hub.close();
    this.#keepAlive.close();
    this.#client.close();
  }

  /** Current revision, compact revision and key count, from one count-only range. */
  async #revisions(strict = false): Promise<{ revision: number; compactRevision: number; keys: number }> {
    const request = { ...this.#ns.range(''), count_only: true };
    const res = strict
      ? await this.#call('read the revision', () => this.#client.kv.range(request))
      : await this.#read('read the revision', request);
    const revision = Number(res.header.revision);
    const compactRevision = await this.#call('find the compact revision', () => this.#compaction.compactRevision(revision));
    return { revision, compactRevision, keys: Number(res.count) };
  }

  /**
   * A linearizable read; when that fails for want of a quorum, the member's own copy
   * (serializable). Until a linearizable read works again (probed in the background, one at a
   * time) reads go to the local copy straight away, so a degraded cluster does not cost every
   * read the full call budget.
   */
  async #read(what: string, request: IRangeRequest): Promise<IRangeResponse> {
    const local = (): Promise<IRangeResponse> => this.#call(what, () => this.#client.kv.range({ ...request, serializable: true }), LOCAL_READ_BUDGET_MS);
    if (this.#degraded) {
      this.#probeQuorum();
      return local();
    }
    try {
      return await this.#call(what, () => this.#client.kv.range(request));
    } catch (err) {
      if (!(err instanceof TrellisError && err.code === ErrorCodes.STORE_UNAVAILABLE)) throw err;
      this.#degraded = true;
      try {
        return await local();
      } catch {
        throw err;
      }
    }
  }

  #probeQuorum(): void {
    if (this.#probing || this.#closed) return;
    this.#probing = true;
    this.#client.kv.range({ ...this.#ns.range(''), count_only: true })
      .then(() => { this.#degraded = false; }, () => undefined)
      .finally(() => { this.#probing = false; });
  }

  /** A compare-and-swap on the key's modRevision around one operation. */
  async #swap(key: string, modRevision: number, op: IRequestOp) {
    const res = await this.#call(`compare-and-swap ${key}`, () => this.#client.kv.txn({
      compare: [{ key: this.#ns.key(key), target: 'Mod', result: 'Equal', mod_revision: modRevision }],
      success: [op],
    }));
    if (!res.succeeded) {
      throw new TrellisError(ErrorCodes.CONFLICT, `${key} changed: its modRevision is no longer ${modRevision} (read it again and retry)`,
        { details: { revision: Number(res.header.revision) } });
    }
    const first = res.responses[0];
    if (first === undefined) throw new TrellisError(ErrorCodes.INTERNAL, `etcd answered a compare-and-swap on ${key} without a result`);
    return { ...first, revision: Number(res.header.revision) };
  }

  #leaseField(lease: LeaseId | undefined): { lease?: string } {
    return lease === undefined ? {} : { lease: this.#lease(lease) };
  }

  #lease(id: LeaseId): string {
    const etcdId = toEtcdLease(id);
    if (etcdId === undefined) throw leaseNotFound(id);
    return etcdId;
  }

  async #call<T>(what: string, attempt: () => Promise<T>, budgetMs = this.#timeoutMs): Promise<T> {
    this.#check();
    try {
      return await withRetry(budgetMs, attempt);
    } catch (err) {
      if (this.#closed) throw this.#closedError();
      throw toStoreError(err, what, this.#endpoints);
    }
  }

  async #describeWatchError(err: Error, afterRevision: number): Promise<TrellisError> {
    if (this.#closed) return this.#closedError();
    if (isCompactedError(err)) {
      const compactRevision = await this.#revisions().then((r) => r.compactRevision, () => afterRevision + 1);
      return this.#compacted(afterRevision, compactRevision);
    }
    return toStoreError(err, 'watch', this.#endpoints);
  }

  #compacted(afterRevision: number, compactRevision: number): TrellisError {
    return new TrellisError(ErrorCodes.COMPACTED,
      `history after revision ${afterRevision} is no longer retained (compacted up to ${compactRevision}): read the current state and watch from its revision`,
      { details: { compactRevision } });
  }

  #check(): void {
    if (this.#closed) throw this.#closedError();
  }

  #closedError(): TrellisError {
    return new TrellisError(ErrorCodes.STORE_CLOSED, 'the store is closed');
  }
}
