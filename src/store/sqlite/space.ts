/**
 * Giving space back: after a compaction, the compacted events are deleted, the freed pages
 * returned to the file system (incremental vacuum) and the WAL checkpointed (by the checkpoint
 * thread) and truncated — each in slices of at most SLICE_MS between which the event loop runs, never while a group commit
 * is open. Databases are created with auto_vacuum=INCREMENTAL (schema.ts); one created before
 * that keeps its size until a `VACUUM` (docs/operations.md).
 */
import type { Database } from 'better-sqlite3';
import { messageOf } from '../../errors.js';
import type { WarnLogger } from './watch-hub.js';

/** Longest synchronous run of clean-up work. */
const SLICE_MS = 8;
/** Revisions of events deleted per statement. */
const PURGE_REVISIONS = 500;
/** Pages returned to the file system per statement. */
const VACUUM_PAGES = 256;
/** The WAL is truncated to at most this after a checkpoint. */
export const JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024;
/** Wait this long when the store is busy (a group commit is open). */
const BUSY_RETRY_MS = 20;

export class StorageKeeper {
  readonly #db: Database;
  readonly #logger: WarnLogger | undefined;
  readonly #compactRevision: () => number;
  readonly #busy: () => boolean;
  readonly #oldestEvent;
  readonly #purge;
  readonly #incremental: boolean;
  #running = false;
  #stopped = false;
  #dirty = false;

  readonly #checkpoint: () => void;

  /** `checkpoint` asks for the WAL to be copied into the database (off the event loop: checkpointer.ts). */
  constructor(db: Database, logger: WarnLogger | undefined, compactRevision: () => number, busy: () => boolean, checkpoint: () => void) {
    this.#checkpoint = checkpoint;
    this.#db = db;
    this.#logger = logger;
    this.#compactRevision = compactRevision;
    this.#busy = busy;
    this.#oldestEvent = db.prepare<[], number | null>('SELECT min(revision) FROM events').pluck();
    this.#purge = db.prepare<[number], void>('DELETE FROM events WHERE revision <= ?');
    this.#incremental = db.pragma('auto_vacuum', { simple: true }) === 2;
    db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`);
  }

  /** Start a clean-up pass unless one is running. */
  start(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    setImmediate(() => this.#slice());
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Delete every compacted event now, in one go (for a scrub, which rewrites the file anyway). */
  purgeCompacted(): void {
    this.#purge.run(this.#compactRevision());
  }

  #slice(): void {
    if (this.#stopped) return;
    if (this.#busy()) {
      setTimeout(() => this.#slice(), BUSY_RETRY_MS).unref();
      return;
    }
    const deadline = performance.now() + SLICE_MS;
    try {
      while (performance.now() < deadline) {
        if (!this.#step()) {
          this.#finish();
          return;
        }
      }
    } catch (err) {
      this.#running = false;
      this.#logger?.warn({ err: messageOf(err) }, 'could not give database space back; will retry at the next compaction');
      return;
    }
    setImmediate(() => this.#slice());
  }

  /** One bounded piece of work; false when there is none left. */
  #step(): boolean {
    const oldest = this.#oldestEvent.get();
    const compact = this.#compactRevision();
    if (oldest !== null && oldest !== undefined && oldest <= compact) {
      this.#purge.run(Math.min(compact, oldest + PURGE_REVISIONS));
      this.#dirty = true;
      return true;
    }
    if (this.#incremental && (this.#db.pragma('freelist_count', { simple: true }) as number) > 0) {
      this.#db.pragma(`incremental_vacuum(${VACUUM_PAGES})`);
      this.#dirty = true;
      return true;
    }
    return false;
  }

  #finish(): void {
    this.#running = false;
    if (!this.#dirty) return;
    this.#dirty = false;
    // Copy the WAL into the database; the writer then starts it over, truncated to journal_size_limit.
    this.#checkpoint();
  }
}
