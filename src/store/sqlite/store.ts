/**
 * The embedded KvStore: one SQLite file, one process.
 *
 * Every write is one SQLite transaction that takes the next revision, changes `kv`, appends its
 * events to the log and records the revision in `meta` — all or nothing. The revision, the key
 * count and the compact revision are mirrored in memory (the process holds the only connection,
 * under an exclusive lock), lease deadlines live only in memory (see LeaseClock), and committed
 * events are fanned out by the WatchHub.
 */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';
import type {
  DeleteOptions,
  DeletePrefixResult,
  DeleteResult,
  GetResult,
  KeyValue,
  KvStore,
  LeaseGrant,
  LeaseId,
  LeaseInfo,
  PutOptions,
  PutResult,
  RangeOptions,
  RangeResult,
  StoreStatus,
  TxnCompare,
  TxnOp,
  TxnResult,
  WatchEvent,
  WatchListener,
  WatchOptions,
  Watcher,
} from '../types.js';
import { Checkpointer } from './checkpointer.js';
import { eraseFreedData } from './database.js';
import { LeaseClock } from './lease-clock.js';
import { corruptDatabase } from './open-errors.js';
import { Meta } from './schema.js';
import {
  type KvRow,
  type Statements,
  prepareStatements,
  toEventRow,
  toKeyValue,
  toKvRow,
  toWatchEvent,
} from './statements.js';
import { StorageKeeper } from './space.js';
import { WatchHub, type WarnLogger } from './watch-hub.js';

/** How often expired leases are looked for: an expired lease's keys are gone within this. */
const LEASE_TICK_MS = 50;
/** Longest synchronous run of lease expiry before yielding to the event loop (the rest follows at once). */
const EXPIRY_SLICE_MS = 5;
/** Events read per page of a watch's replay. */
const REPLAY_PAGE = 1_000;

export interface SqliteStoreOptions {
  /** Directory for the database; created (with its parents) if missing. */
  dataDir: string;
  /** Watch history: automatic compaction keeps at most this many of the latest revisions. Default 200,000. */
  retainRevisions?: number;
  /** Watch history: revisions older than this (ms) are compacted too. Default: no age limit. */
  retainMs?: number;
  /** How often automatic compaction runs, in ms. Default 60,000. */
  compactionIntervalMs?: number;
  /**
   * Clock for lease deadlines, in ms. Default: a monotonic clock (`performance.now()`), so
   * wall-clock jumps never expire leases. Deadlines are never persisted, so any clock works.
   */
  now?: () => number;
  /** Receives warnings: a watch listener threw, lease expiry or compaction failed. */
  logger?: WarnLogger;
}

export const DEFAULT_RETAIN_REVISIONS = 200_000;
export const DEFAULT_COMPACTION_INTERVAL_MS = 60_000;

/**
 * Group commit: writes issued in the same turn of the event loop share one SQLite
 * transaction (each still gets its own revision). The transaction commits on the next
 * setImmediate; only then are the writes' promises resolved and their events published,
 * so nothing is acknowledged or seen by a watcher before it is durable. Reads wait for an
 * open batch first, so they never see uncommitted data.
 */
interface Batch {
  readonly committed: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
  readonly events: WatchEvent[][];
  readonly grantedLeases: LeaseId[];
  /** A write took a revision: the batch records the last one in `meta` just before it commits. */
  revised: boolean;
}

/** What a write does inside its transaction: the events it produced and its own result. */
interface Change<T> {
  events: WatchEvent[];
  result: T;
}

export class SqliteStore implements KvStore {
  readonly backend = 'sqlite';

  readonly #db: Database.Database;
  readonly #file: string;
  readonly #sql: Statements;
  /** Runs a function in one transaction (BEGIN … COMMIT, ROLLBACK if it throws). */
  readonly #transaction: (body: () => unknown) => unknown;
  readonly #leases: LeaseClock;
  readonly #hub: WatchHub;
  readonly #logger: WarnLogger | undefined;
  readonly #retainRevisions: number;
  readonly #retainMs: number | undefined;
  /** (time, revision) sampled at each compaction tick, for the age limit. */
  readonly #revisionTimes: Array<{ at: number; revision: number }> = [];
  readonly #space: StorageKeeper;
  /** WAL checkpoints on a thread of their own; none for a store in memory. */
  readonly #checkpointer: Checkpointer | undefined;
  readonly #unlock: () => void;
  readonly #timers: NodeJS.Timeout[];
  /** Expired leases waiting for their revocation slice. */
  #expiring: LeaseId[] = [];
  #expiryRunning = false;
  /** Revision of the last write, committed or in the open batch. */
  #revision: number;
  #compactRevision: number;
  /** The open group commit, if writes are waiting for theirs. */
  #batch: Batch | undefined;
  #keyCount: number;
  #closed = false;
  /** Random bytes for lease ids, used 8 at a time. */
  #idPool = Buffer.alloc(0);
  #idPoolAt = 0;

  /**
   * Use openSqliteStore(); this takes an open, migrated database (`unlock` gives up the data
   * dir's lock once the store has closed).
   */
  constructor(db: Database.Database, file: string, options: SqliteStoreOptions, unlock: () => void = () => undefined) {
    this.#db = db;
    this.#file = file;
    this.#unlock = unlock;
    this.#checkpointer = file === ':memory:' ? undefined : new Checkpointer(db, file, options.logger);
    this.#sql = prepareStatements(db);
    this.#transaction = db.transaction((body: () => unknown) => body());
    this.#logger = options.logger;
    this.#retainRevisions = options.retainRevisions ?? DEFAULT_RETAIN_REVISIONS;
    this.#retainMs = options.retainMs;
    this.#space = new StorageKeeper(db, options.logger, () => this.#compactRevision, () => this.#closed || this.#batch !== undefined,
      () => this.#checkpointer?.committed());
    this.#hub = new WatchHub(options.logger);
    this.#revision = this.#readMeta(Meta.REVISION);
    this.#compactRevision = this.#readMeta(Meta.COMPACT_REVISION);
    this.#keyCount = this.#sql.countKv.get() ?? 0;

    // Every persisted lease starts with a full TTL plus up to half a TTL more, at random, so
    // leases that nobody renews after a restart do not all expire in the same tick (see LeaseClock).
    this.#leases = new LeaseClock(options.now ?? (() => performance.now()), LEASE_TICK_MS);
    for (const lease of this.#sql.allLeases.all()) this.#leases.add(lease.id, lease.ttl_ms, Math.floor(Math.random() * lease.ttl_ms / 2));

    this.#timers = [
      setInterval(() => this.#expireLeases(), LEASE_TICK_MS),
      setInterval(() => this.#autoCompact(), options.compactionIntervalMs ?? DEFAULT_COMPACTION_INTERVAL_MS),
    ];
    for (const timer of this.#timers) timer.unref();
  }

  /** Absolute path of the database file. */
  get file(): string {
    return this.#file;
  }

  /** WAL checkpoints done so far, the slowest (ms), and whether they run on their own thread. */
  get checkpoints(): { checkpoints: number; slowestMs: number; onWorker: boolean } {
    return this.#checkpointer?.stats ?? { checkpoints: 0, slowestMs: 0, onWorker: false };
  }

  async get(key: string): Promise<GetResult> {
    await this.#settled();
    const row = this.#checkOpen().getKv.get(key);
    return { kv: row === undefined ? undefined : toKeyValue(row), revision: this.#revision };
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    checkRangeOptions(options);
    await this.#settled();
    const sql = this.#checkOpen();
    if (options.limit === undefined && options.after === undefined) {
      return { kvs: sql.rangeKv.all(prefix, {}).map(toKeyValue), revision: this.#revision, more: false };
    }
    const limit = options.limit ?? Number.MAX_SAFE_INTEGER;
    // One row more than asked tells whether another page follows.
    const rows = sql.rangeKvPage.all(prefix, { after: options.after ?? '', limit: Math.min(limit, Number.MAX_SAFE_INTEGER - 1) + 1 });
    const more = rows.length > limit;
    return { kvs: (more ? rows.slice(0, limit) : rows).map(toKeyValue), revision: this.#revision, more };
  }

  async put(key: string, value: string, options: PutOptions = {}): Promise<PutResult> {
    const sql = this.#checkOpen();
    checkKey(key);
    if (typeof value !== 'string') throw invalid('value', 'value must be a string');
    const { lease, ifModRevision } = options;
    checkModRevisionOption(ifModRevision);
    if (lease !== undefined && this.#leases.live(lease) === undefined) throw leaseNotFound(lease);
    return this.#write((revision) => {
      const prev = sql.getKv.get(key);
      checkModRevision(key, prev, ifModRevision);
      const kv: KeyValue = {
        key,
        value,
        createRevision: prev?.create_revision ?? revision,
        modRevision: revision,
        version: (prev?.version ?? 0) + 1,
        lease,
      };
      sql.upsertKv.run(toKvRow(kv));
      const event = { type: 'put', key, revision, value, lease, prevValue: prev?.value } as const;
      return { events: [event], result: { prevKv: prev === undefined ? undefined : toKeyValue(prev) } };
    });
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    const sql = this.#checkOpen();
    const { ifModRevision } = options;
    checkModRevisionOption(ifModRevision);
    return this.#write((revision) => {
      const prev = sql.getKv.get(key);
      checkModRevision(key, prev, ifModRevision);
      const rows = prev === undefined ? [] : [prev];
      return {
        events: this.#deleteRows(rows, revision),
        result: { deleted: rows.length, prevKv: prev === undefined ? undefined : toKeyValue(prev) },
      };
    });
  }

  async txn(ops: readonly TxnOp[], compares: readonly TxnCompare[] = []): Promise<TxnResult> {
    const sql = this.#checkOpen();
    checkTxn(ops, compares);
    for (const op of ops) {
      if (op.type === 'put' && op.lease !== undefined && this.#leases.live(op.lease) === undefined) throw leaseNotFound(op.lease);
    }
    return this.#write((revision) => {
      for (const compare of compares) checkModRevision(compare.key, sql.getKv.get(compare.key), compare.modRevision);
      const events: WatchEvent[] = [];
      const prevKvs = ops.map((op) => {
        const prev = sql.getKv.get(op.key);
        if (op.type === 'delete') {
          if (prev !== undefined) events.push(...this.#deleteRows([prev], revision));
        } else {
          sql.upsertKv.run(toKvRow({
            key: op.key, value: op.value, createRevision: prev?.create_revision ?? revision, modRevision: revision,
            version: (prev?.version ?? 0) + 1, lease: op.lease,
          }));
          events.push({ type: 'put', key: op.key, revision, value: op.value, lease: op.lease, prevValue: prev?.value });
        }
        return prev === undefined ? undefined : toKeyValue(prev);
      });
      return { events, result: { prevKvs } };
    });
  }

  async deletePrefix(prefix: string): Promise<DeletePrefixResult> {
    const sql = this.#checkOpen();
    return this.#write((revision) => {
      const rows = sql.rangeKv.all(prefix, {});
      return { events: this.#deleteRows(rows, revision), result: { deleted: rows.length } };
    });
  }

  async grantLease(ttlMs: number): Promise<LeaseGrant> {
    const sql = this.#checkOpen();
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw invalid('ttlMs', `a lease TTL must be a whole number of milliseconds ≥ 1 (got ${String(ttlMs)})`);
    const id = this.#newLeaseId();
    // One statement is atomic by itself: no savepoint around it.
    this.#inBatch(() => sql.insertLease.run(id, ttlMs));
    this.#leases.add(id, ttlMs);
    this.#batch?.grantedLeases.push(id);
    // Not awaiting the commit: the lease row commits with the batch, together with any key a
    // caller attaches to it in the same turn — so a key never outlives a lost lease, and a
    // registration costs one commit, not two.
    return { id, ttlMs };
  }

  async keepAlive(id: LeaseId): Promise<LeaseGrant> {
    this.#checkOpen();
    const lease = this.#leases.renew(id);
    if (lease === undefined) throw leaseNotFound(id);
    return { id, ttlMs: lease.ttlMs };
  }

  async revokeLease(id: LeaseId): Promise<DeletePrefixResult> {
    this.#checkOpen();
    if (this.#leases.live(id) === undefined) throw leaseNotFound(id);
    return this.#revoke(id);
  }

  async leaseInfo(id: LeaseId): Promise<LeaseInfo | undefined> {
    const sql = this.#checkOpen();
    const lease = this.#leases.live(id);
    if (lease === undefined) return undefined;
    const keys = sql.kvByLease.all(id).map((row) => row.key);
    return { id, ttlMs: lease.ttlMs, remainingMs: this.#leases.remainingMs(lease), keys };
  }

  async watch(prefix: string, options: WatchOptions, listener: WatchListener): Promise<Watcher> {
    await this.#settled();
    const sql = this.#checkOpen();
    const { afterRevision } = options;
    if (!Number.isSafeInteger(afterRevision) || afterRevision < 0) {
      throw new TrellisError(ErrorCodes.INVALID_REVISION, `afterRevision must be a whole number ≥ 0 (got ${String(afterRevision)})`, { field: 'afterRevision' });
    }
    if (afterRevision > this.#revision) throw futureRevision('afterRevision', afterRevision, this.#revision);
    if (afterRevision < this.#compactRevision) {
      throw new TrellisError(
        ErrorCodes.COMPACTED,
        `cannot watch from revision ${afterRevision}: history up to revision ${this.#compactRevision} was compacted; read the current state and watch from its revision`,
        { details: { compactRevision: this.#compactRevision } },
      );
    }
    // Subscribe at the current revision; the replay up to it is read a page at a time while it
    // is delivered (no commit can fall in between: the live events after it are the hub's).
    const through = this.#revision;
    const source = afterRevision === through ? undefined : (last: WatchEvent | undefined): readonly WatchEvent[] => {
      // Keys are never empty, so (r + 1, '') starts with every event of revision r + 1.
      const position = last === undefined ? { revision: afterRevision + 1, key: '' } : last;
      if (this.#closed) throw new TrellisError(ErrorCodes.STORE_CLOSED, 'the store was closed');
      if (position.revision <= this.#compactRevision) {
        throw new TrellisError(ErrorCodes.COMPACTED,
          `history after revision ${position.revision} was compacted (up to ${this.#compactRevision}) while this watch was replaying it; read the current state and watch from its revision`,
          { details: { compactRevision: this.#compactRevision } });
      }
      return sql.eventsPage.all(prefix, { revision: position.revision, key: position.key, through, limit: REPLAY_PAGE }).map(toWatchEvent);
    };
    return this.#hub.subscribe(prefix, source, through, listener);
  }

  async compact(revision: number): Promise<void> {
    const sql = this.#checkOpen();
    if (!Number.isSafeInteger(revision) || revision < 0) {
      throw new TrellisError(ErrorCodes.INVALID_REVISION, `a compaction revision must be a whole number ≥ 0 (got ${String(revision)})`, { field: 'revision' });
    }
    if (revision > this.#revision) throw futureRevision('revision', revision, this.#revision);
    if (revision <= this.#compactRevision) return;
    // The compact revision is recorded at once (no watch can start below it from now on); the
    // events themselves are deleted in slices afterwards, so compacting never blocks for long.
    this.#inTransaction(() => sql.setMeta.run(revision, Meta.COMPACT_REVISION));
    this.#compactRevision = revision;
    await this.#settled();
    this.#space.start();
  }

  /** Rewrite the file without free pages and truncate the WAL: deleted and compacted values leave the disk. */
  async scrub(): Promise<void> {
    await this.#settled();
    this.#checkOpen();
    // Compaction purges old events in slices, later; a scrub must not leave them behind.
    this.#space.purgeCompacted();
    eraseFreedData(this.#db);
  }

  async status(): Promise<StoreStatus> {
    await this.#settled();
    this.#checkOpen();
    return {
      backend: this.backend,
      revision: this.#revision,
      compactRevision: this.#compactRevision,
      leases: this.#leases.size,
      keys: this.#keyCount,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#space.stop();
    this.#commit();
    this.#hub.failAll(new TrellisError(ErrorCodes.STORE_CLOSED, 'the store was closed'));
    this.#db.close();
    // The checkpoint thread's connection closes last: it copies the WAL over and removes it.
    await this.#checkpointer?.close();
    this.#unlock();
  }

  /** The prepared statements; STORE_CLOSED once the store is closed. */
  #checkOpen(): Statements {
    if (this.#closed) throw new TrellisError(ErrorCodes.STORE_CLOSED, 'the store is closed');
    return this.#sql;
  }

  /**
   * Run a write as one transaction at revision current + 1. `mutate` changes `kv` (and may
   * throw to abort with nothing written) and returns the events it produced; they are logged
   * with the revision. A write that produced no event does not use up a revision. After the
   * commit, the in-memory mirrors are updated and the events published to watchers.
   */
  #write<T extends object>(mutate: (revision: number) => Change<T>): Promise<T & { revision: number }> {
    const revision = this.#revision + 1;
    const { events, result } = this.#inTransaction(() => {
      const change = mutate(revision);
      for (const event of change.events) this.#sql.insertEvent.run(toEventRow(Object.freeze(event)));
      return change;
    });
    if (events.length > 0) {
      this.#revision = revision;
      if (this.#batch !== undefined) this.#batch.revised = true;
      for (const event of events) {
        if (event.type === 'delete') this.#keyCount -= 1;
        else if (event.prevValue === undefined) this.#keyCount += 1; // a put that created the key
      }
      this.#batch?.events.push(events);
    }
    const answer = { ...result, revision: this.#revision };
    // Its own batch, not every later one: under a steady stream of writes a writer must not
    // wait for batches opened after it (that starved lease keep-alive loops and reads).
    const batch = this.#batch;
    return batch === undefined ? Promise.resolve(answer) : batch.committed.then(() => answer);
  }

  /**
   * Resolves when the batch open now has committed. Not every later one: under a steady stream
   * of writes that would starve readers. A read that runs after a newer batch opened can see
   * that batch's writes before they commit (they are acknowledged and published only after).
   */
  async #settled(): Promise<void> {
    if (this.#batch !== undefined) await this.#batch.committed;
  }

  /** Open a batch (BEGIN) unless one is open; it commits on the next setImmediate. */
  #openBatch(): Batch {
    if (this.#batch !== undefined) return this.#batch;
    this.#db.exec('BEGIN');
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const committed = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    committed.catch(() => undefined); // waiters handle it; never an unhandled rejection
    const batch: Batch = { committed, resolve, reject, events: [], grantedLeases: [], revised: false };
    this.#batch = batch;
    setImmediate(() => this.#commit());
    return batch;
  }

  /** COMMIT the open batch; then publish its events and release its writers. */
  #commit(): void {
    const batch = this.#batch;
    if (batch === undefined) return;
    this.#batch = undefined;
    try {
      // One meta update per batch, not per write: the revision counter commits with the writes.
      if (batch.revised) this.#sql.setMeta.run(this.#revision, Meta.REVISION);
      this.#db.exec('COMMIT');
    } catch (err) {
      // Nothing of this batch is durable: roll back memory to what the database holds.
      try { this.#db.exec('ROLLBACK'); } catch { /* already rolled back by SQLite */ }
      this.#revision = this.#readMeta(Meta.REVISION);
      this.#keyCount = this.#sql.countKv.get() ?? 0;
      for (const id of batch.grantedLeases) this.#leases.delete(id);
      batch.reject(new TrellisError(ErrorCodes.STORE_UNAVAILABLE, `the store could not commit to ${this.#file}: ${messageOf(err)}`, { cause: err }));
      return;
    }
    this.#checkpointer?.committed();
    for (const events of batch.events) this.#hub.publish(events);
    batch.resolve();
  }

  /**
   * Run `body` in one SQLite transaction (rolled back if it throws). A SQLite failure (disk
   * full, I/O error) becomes STORE_UNAVAILABLE; errors thrown by `body` pass through.
   */
  #inTransaction<T>(body: () => T): T {
    this.#openBatch();
    try {
      return this.#transaction(body) as T; // #transaction returns what its body returns
    } catch (err) {
      if (!(err instanceof Database.SqliteError)) throw err;
      throw new TrellisError(ErrorCodes.STORE_UNAVAILABLE, `the store could not write to ${this.#file}: ${messageOf(err)}`, { cause: err });
    }
  }

  /** Run one statement in the open batch (opening it), with the errors of #inTransaction. */
  #inBatch<T>(statement: () => T): T {
    this.#openBatch();
    try {
      return statement();
    } catch (err) {
      if (!(err instanceof Database.SqliteError)) throw err;
      throw new TrellisError(ErrorCodes.STORE_UNAVAILABLE, `the store could not write to ${this.#file}: ${messageOf(err)}`, { cause: err });
    }
  }

  /** Delete `rows` from `kv` inside a write at `revision`; returns their delete events. */
  #deleteRows(rows: readonly KvRow[], revision: number): WatchEvent[] {
    return rows.map((row) => {
      this.#sql.deleteKv.run(row.key);
      return { type: 'delete', key: row.key, revision, value: undefined, lease: undefined, prevValue: row.value };
    });
  }

  /** Delete a lease and its keys (one revision if it had keys). */
  #revoke(id: LeaseId): Promise<DeletePrefixResult> {
    const result = this.#write((revision) => {
      const rows = this.#sql.kvByLease.all(id);
      this.#sql.deleteLease.run(id);
      return { events: this.#deleteRows(rows, revision), result: { deleted: rows.length } };
    });
    this.#leases.delete(id);
    return result;
  }

  /**
   * Timer: revoke the leases whose deadline has passed, in slices of at most EXPIRY_SLICE_MS
   * with a turn of the event loop between them, so that any number expiring at once never
   * blocks other work (requests, keep-alives of the control plane's own membership lease) for
   * longer than a slice. Each slice's revocations share one commit.
   */
  #expireLeases(): void {
    if (this.#expiryRunning || this.#closed) return;
    this.#expiring = this.#leases.expired();
    if (this.#expiring.length === 0) return;
    this.#expiryRunning = true;
    this.#expirySlice();
  }

  #expirySlice(): void {
    const deadline = performance.now() + EXPIRY_SLICE_MS;
    let done = 0;
    for (const id of this.#expiring) {
      if (this.#closed) break;
      done += 1;
      // Renewed (or revoked) since it was found expired: nothing to do.
      if (!this.#leases.has(id) || this.#leases.live(id) !== undefined) continue;
      try {
        this.#revoke(id).catch((err: unknown) => {
          this.#logger?.warn({ lease: id, err: messageOf(err) }, 'could not revoke an expired lease; will retry');
        });
      } catch (err) {
        this.#logger?.warn({ lease: id, err: messageOf(err) }, 'could not revoke an expired lease; will retry');
      }
      if ((done & 15) === 0 && performance.now() >= deadline) break;
    }
    this.#expiring = this.#closed ? [] : this.#expiring.slice(done);
    if (this.#expiring.length === 0) {
      this.#expiryRunning = false;
      return;
    }
    setImmediate(() => this.#expirySlice());
  }

  /**
   * Timer: compact so that at most the latest `retainRevisions` revisions, none older than
   * `retainMs`, stay watchable; then give the space back in slices (StorageKeeper).
   */
  #autoCompact(): void {
    if (this.#closed) return;
    const now = Date.now();
    this.#revisionTimes.push({ at: now, revision: this.#revision });
    let target = this.#revision - this.#retainRevisions;
    if (this.#retainMs !== undefined) {
      const cutoff = now - this.#retainMs;
      while (this.#revisionTimes.length > 1 && (this.#revisionTimes[1]?.at ?? now) <= cutoff) this.#revisionTimes.shift();
      const oldest = this.#revisionTimes[0];
      if (oldest !== undefined && oldest.at <= cutoff) target = Math.max(target, oldest.revision);
    } else if (this.#revisionTimes.length > 1) {
      this.#revisionTimes.shift();
    }
    if (target > this.#compactRevision) {
      this.compact(target).catch((err: unknown) => {
        this.#logger?.warn({ revision: target, err: messageOf(err) }, 'automatic compaction failed; will retry');
      });
    }
    this.#space.start();
  }

  /** A random 64-bit id in hex (like etcd's), unguessable so one client cannot renew another's. */
  #newLeaseId(): LeaseId {
    for (;;) {
      // From a pool of random bytes: one randomBytes call per 512 leases, not one each.
      if (this.#idPoolAt + 8 > this.#idPool.length) { this.#idPool = randomBytes(4_096); this.#idPoolAt = 0; }
      const id = this.#idPool.toString('hex', this.#idPoolAt, this.#idPoolAt + 8);
      this.#idPoolAt += 8;
      if (!this.#leases.has(id)) return id;
    }
  }

  #readMeta(name: string): number {
    const value = this.#sql.getMeta.get(name);
    if (value === undefined) throw corruptDatabase(this.#file, `its meta table has no "${name}"`);
    return value;
  }
}

function checkRangeOptions(options: RangeOptions): void {
  const { limit, after } = options;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) throw invalid('limit', `limit must be a whole number ≥ 1 (got ${String(limit)})`);
  if (after !== undefined && typeof after !== 'string') throw invalid('after', 'after must be a key (a string)');
}

/** Every op names a key once; compares name keys. */
function checkTxn(ops: readonly TxnOp[], compares: readonly TxnCompare[]): void {
  if (!Array.isArray(ops) || ops.length === 0) throw invalid('ops', 'a transaction needs at least one op');
  const seen = new Set<string>();
  for (const op of ops) {
    checkKey(op.key);
    if (seen.has(op.key)) throw invalid('ops', `key ${op.key} appears in more than one op of the transaction`);
    seen.add(op.key);
    if (op.type === 'put' && typeof op.value !== 'string') throw invalid('value', 'value must be a string');
  }
  for (const compare of compares) {
    checkKey(compare.key);
    checkModRevisionOption(compare.modRevision);
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw invalid('key', 'a key must be a non-empty string');
}

function checkModRevisionOption(ifModRevision: number | undefined): void {
  if (ifModRevision !== undefined && (!Number.isSafeInteger(ifModRevision) || ifModRevision < 0)) {
    throw invalid('ifModRevision', `ifModRevision must be a whole number ≥ 0 (got ${String(ifModRevision)})`);
  }
}

/** CONFLICT unless the key's modRevision (0 when it does not exist) is `expected`. */
function checkModRevision(key: string, current: KvRow | undefined, expected: number | undefined): void {
  if (expected === undefined) return;
  const actual = current?.mod_revision ?? 0;
  if (actual === expected) return;
  const message = expected === 0
    ? `key ${key} already exists (modRevision ${actual})`
    : actual === 0
      ? `key ${key} does not exist (expected modRevision ${expected})`
      : `key ${key} changed: expected modRevision ${expected}, found ${actual}`;
  throw new TrellisError(ErrorCodes.CONFLICT, message, { details: { key, expectedModRevision: expected, modRevision: actual } });
}

function invalid(field: string, message: string): TrellisError {
  return new TrellisError(ErrorCodes.VALIDATION, message, { field });
}

function leaseNotFound(id: LeaseId): TrellisError {
  return new TrellisError(ErrorCodes.LEASE_NOT_FOUND, `lease ${id} does not exist or has expired`, { details: { lease: id } });
}

function futureRevision(field: string, revision: number, current: number): TrellisError {
  return new TrellisError(ErrorCodes.INVALID_REVISION, `revision ${revision} is in the future: the store is at revision ${current}`, {
    field,
    details: { revision: current },
  });
}
