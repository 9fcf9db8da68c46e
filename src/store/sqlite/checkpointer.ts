/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside a COMMIT, on the
 * thread that commits, and fsyncs the WAL and the database there: on a disk shared with other
 * writers one fsync took over a second, and the whole control plane (requests, the expiry of
 * leases, its own membership lease) waited for it. The store's connection therefore never
 * checkpoints (`wal_autocheckpoint=0`) and does not sync (`synchronous=OFF`); a worker thread
 * with a connection of its own (`synchronous=NORMAL`) copies the WAL into the database
 * (PASSIVE: it never waits for, nor blocks, the writer) at most every CHECKPOINT_INTERVAL_MS
 * while commits come in, syncing the WAL before and the database after. The writer starts the
 * WAL over (truncated to journal_size_limit) once a checkpoint has copied all of it; that the new
 * WAL header is not synced at once costs at most the commits since (an OS crash, as before), never
 * the database: everything in the old WAL is in the synced database by then.
 *
 * Durability is unchanged: a commit is in the WAL (the OS's page cache) when it is acknowledged,
 * so kill -9 loses nothing; an OS crash or power loss can lose the last commits, as with
 * `synchronous=NORMAL` in WAL mode. If the worker cannot start or dies, the connection syncs and
 * checkpoints automatically again (slower under I/O load), with a warning.
 */
import { Worker } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';
import { messageOf } from '../../errors.js';
import type { CheckpointReport } from './checkpoint-worker.js';
import type { WarnLogger } from './watch-hub.js';

/** How often, at most, the WAL is copied into the database while writes come in. */
export const CHECKPOINT_INTERVAL_MS = 250;
/** SQLite's default automatic checkpoint (pages), restored if the worker is lost. */
const AUTO_CHECKPOINT_PAGES = 1_000;
/** How long close() waits for the last checkpoint before stopping the worker anyway. */
const CLOSE_TIMEOUT_MS = 10_000;

export class Checkpointer {
  readonly #db: Database;
  readonly #logger: WarnLogger | undefined;
  readonly #worker: Worker | undefined;
  readonly #timer: NodeJS.Timeout;
  #dirty = false;
  #running = false;
  #lost = false;
  #closing: Promise<void> | undefined;
  #onClosed: (() => void) | undefined;
  /** Checkpoints done and the slowest one (ms), for status and tests. */
  #count = 0;
  #slowestMs = 0;

  constructor(db: Database, file: string, logger: WarnLogger | undefined) {
    this.#db = db;
    this.#logger = logger;
    let worker: Worker | undefined;
    try {
      worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: { file } });
      db.pragma('wal_autocheckpoint = 0');
      db.pragma('synchronous = OFF');
      worker.unref();
      worker.on('message', (report: CheckpointReport) => this.#report(report));
      worker.on('error', (err) => this.#lose(err));
      worker.on('exit', (code) => { if (this.#closing === undefined) this.#lose(new Error(`the checkpoint worker exited with code ${code}`)); else this.#onClosed?.(); });
    } catch (err) {
      worker = undefined;
      this.#lose(err);
    }
    this.#worker = worker;
    this.#timer = setInterval(() => this.#tick(), CHECKPOINT_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Commits went into the WAL: a checkpoint follows within CHECKPOINT_INTERVAL_MS. */
  committed(): void {
    this.#dirty = true;
  }

  get stats(): { checkpoints: number; slowestMs: number; onWorker: boolean } {
    return { checkpoints: this.#count, slowestMs: this.#slowestMs, onWorker: !this.#lost };
  }

  /**
   * Checkpoint everything, truncate the WAL and close the worker's connection. Call after the
   * store's own connection has closed, so the worker's is the last: SQLite then removes the WAL.
   */
  close(): Promise<void> {
    clearInterval(this.#timer);
    if (this.#closing !== undefined) return this.#closing;
    const worker = this.#worker;
    this.#closing = this.#lost || worker === undefined ? Promise.resolve() : new Promise<void>((resolve) => {
      const timer = setTimeout(() => { void worker.terminate(); resolve(); }, CLOSE_TIMEOUT_MS);
      this.#onClosed = () => { clearTimeout(timer); resolve(); };
      worker.postMessage('close');
    });
    return this.#closing;
  }

  #tick(): void {
    if (!this.#dirty || this.#running || this.#lost || this.#closing !== undefined) return;
    this.#dirty = false;
    this.#running = true;
    this.#worker?.postMessage('checkpoint');
  }

  #report(report: CheckpointReport): void {
    this.#running = false;
    this.#count += 1;
    this.#slowestMs = Math.max(this.#slowestMs, report.ms);
    if (report.error !== undefined) this.#logger?.warn({ err: report.error }, 'WAL checkpoint failed; will retry');
    if (report.kind === 'closed') this.#onClosed?.();
  }

  #lose(err: unknown): void {
    if (this.#lost) return;
    this.#lost = true;
    this.#running = false;
    this.#logger?.warn({ err: messageOf(err) }, 'the WAL checkpoint thread is not running: checkpoints run on the main thread (requests may wait for disk syncs)');
    try {
      this.#db.pragma('synchronous = NORMAL');
      this.#db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
    } catch { /* the connection is closed */ }
  }
}
