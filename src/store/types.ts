/**
 * The key-value store at the heart of Trellis, shaped after etcd's v3 API:
 * keys with revisions, leases with a TTL that keep-alives extend, and watches
 * that resume from a revision with no gap or a clear "compacted" error.
 *
 * Every backend (embedded SQLite today, etcd later) implements `KvStore` and
 * passes the shared contract suite in test/store/contract.ts. Nothing above
 * src/store may know which backend runs.
 */

/** Opaque lease id (etcd's are int64, so a string in JS). */
export type LeaseId = string;

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the write that created this key (since its last delete). */
  createRevision: number;
  /** Revision of the last write to this key. */
  modRevision: number;
  /** Number of writes since creation, 1 after the first put. */
  version: number;
  /** Lease the key is attached to, if any: the key is deleted when it expires. */
  lease: LeaseId | undefined;
}

export interface GetResult {
  kv: KeyValue | undefined;
  /** Store revision at the time of the read. */
  revision: number;
}

export interface RangeResult {
  /** Keys with the prefix, sorted by key (byte order). */
  kvs: KeyValue[];
  revision: number;
  /** True when `limit` cut the answer short: more keys follow the last one returned. */
  more: boolean;
}

export interface RangeOptions {
  /** At most this many keys (≥ 1); absent = all of them. */
  limit?: number;
  /** Only keys greater (in byte order) than this one: the last key of the previous page. */
  after?: string;
}

/** One write of a transaction. */
export type TxnOp =
  | { type: 'put'; key: string; value: string; lease?: LeaseId }
  | { type: 'delete'; key: string };

/** A condition of a transaction: the key's modRevision is this (0 = the key does not exist). */
export interface TxnCompare {
  key: string;
  modRevision: number;
}

export interface TxnResult {
  /** The one revision every write of the transaction got (unchanged when nothing changed). */
  revision: number;
  /** Per op, in order: the key's value before the transaction (undefined if it did not exist). */
  prevKvs: Array<KeyValue | undefined>;
}

export interface PutOptions {
  lease?: LeaseId;
  /**
   * Compare-and-swap: only write if the key's modRevision equals this value
   * (0 means "the key must not exist"). Otherwise the put fails with
   * TRELLIS_ERR_CONFLICT and nothing is written.
   */
  ifModRevision?: number;
}

export interface PutResult {
  revision: number;
  prevKv: KeyValue | undefined;
}

export interface DeleteOptions {
  /** Only delete if the key's modRevision equals this value (CONFLICT otherwise). */
  ifModRevision?: number;
}

export interface DeleteResult {
  /** The store revision after the call (unchanged when nothing was deleted). */
  revision: number;
  deleted: number;
  prevKv: KeyValue | undefined;
}

export interface DeletePrefixResult {
  revision: number;
  deleted: number;
}

export interface LeaseGrant {
  id: LeaseId;
  ttlMs: number;
}

export interface LeaseInfo {
  id: LeaseId;
  ttlMs: number;
  /** Time left before expiry, never negative. */
  remainingMs: number;
  keys: string[];
}

export type WatchEventType = 'put' | 'delete';

export interface WatchEvent {
  type: WatchEventType;
  key: string;
  /** Revision of the write that produced this event. Strictly increasing per watcher
   * (several events of one transaction may share a revision). */
  revision: number;
  /** The new value for a put; undefined for a delete. */
  value: string | undefined;
  /** The lease the key is attached to after a put. */
  lease: LeaseId | undefined;
  /** The value before this event (undefined when the key did not exist). */
  prevValue: string | undefined;
}

export interface WatchListener {
  /** Events in revision order, every event after `afterRevision`, none twice. */
  onEvent(event: WatchEvent): void;
  /** The watch ended abnormally (store closed, history compacted while catching up, backend lost).
   * No more events follow. */
  onError(error: Error): void;
}

export interface WatchOptions {
  /** Deliver every event with revision > afterRevision. 0 = from the beginning of
   * retained history; use the revision of a read to get "changes since that read". */
  afterRevision: number;
}

export interface Watcher {
  /** Stop delivery; idempotent. */
  close(): void;
}

export interface StoreStatus {
  backend: string;
  revision: number;
  /** Events at or below this revision are no longer retained; watches from
   * before it fail with TRELLIS_ERR_COMPACTED. */
  compactRevision: number;
  leases: number;
  keys: number;
}

export interface KvStore {
  readonly backend: string;
  get(key: string): Promise<GetResult>;
  range(prefix: string, options?: RangeOptions): Promise<RangeResult>;
  put(key: string, value: string, options?: PutOptions): Promise<PutResult>;
  delete(key: string, options?: DeleteOptions): Promise<DeleteResult>;
  deletePrefix(prefix: string): Promise<DeletePrefixResult>;
  /**
   * Several writes as one: either every compare holds and every op is applied at one revision
   * (watchers see their events with that revision, in op order), or a compare fails with
   * TRELLIS_ERR_CONFLICT and nothing is written. A key may appear in at most one op.
   */
  txn(ops: readonly TxnOp[], compares?: readonly TxnCompare[]): Promise<TxnResult>;

  /** Grant a lease. ttlMs ≥ 1. */
  grantLease(ttlMs: number): Promise<LeaseGrant>;
  /** Extend a lease by its full TTL. TRELLIS_ERR_LEASE_NOT_FOUND if expired or unknown. */
  keepAlive(id: LeaseId): Promise<LeaseGrant>;
  /** Revoke a lease and delete its keys. TRELLIS_ERR_LEASE_NOT_FOUND if unknown. */
  revokeLease(id: LeaseId): Promise<DeletePrefixResult>;
  /** undefined if the lease is unknown or expired. */
  leaseInfo(id: LeaseId): Promise<LeaseInfo | undefined>;

  /**
   * Start a watch on every key with the prefix. Rejects with TRELLIS_ERR_COMPACTED
   * (details.compactRevision) when afterRevision is older than retained history,
   * and TRELLIS_ERR_INVALID_REVISION when it is in the future.
   */
  watch(prefix: string, options: WatchOptions, listener: WatchListener): Promise<Watcher>;

  /** Drop history at or below `revision`. */
  compact(revision: number): Promise<void>;
  /**
   * Erase from disk what was deleted or compacted away (the embedded store rewrites its file and
   * empties its WAL). Absent where the backend cannot (etcd: `etcdctl compact` + `defrag`).
   */
  scrub?(): Promise<void>;
  status(): Promise<StoreStatus>;
  /** Close the store; pending watches get onError(STORE_CLOSED). Idempotent. */
  close(): Promise<void>;
}
