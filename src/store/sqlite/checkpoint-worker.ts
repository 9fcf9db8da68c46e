/**
 * The checkpointer's thread (see checkpointer.ts): its own connection to the store's file,
 * copying the WAL into the database when asked. Its fsyncs (the WAL before copying, the
 * database after) happen here, never on the event loop that serves requests.
 *
 * Messages in: 'checkpoint' (PASSIVE: never waits for, nor blocks, the writer) and 'close'
 * (TRUNCATE, then close: the last connection to close also removes the WAL). Out: a
 * CheckpointReport after each.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface CheckpointReport {
  kind: 'checkpoint' | 'closed';
  /** Frames in the WAL and frames copied into the database (SQLite's `wal_checkpoint` answer). */
  walFrames: number;
  copiedFrames: number;
  ms: number;
  error?: string;
}

const port = parentPort;
if (port === null) throw new Error('checkpoint-worker.js runs as a worker thread of the embedded store');
const { file } = workerData as { file: string };
const db = new Database(file, { timeout: 5_000 });
// The checkpointer's syncs are what make a checkpoint safe: the WAL is synced before its
// frames are copied, the database after (SQLite's `synchronous=NORMAL` in WAL mode).
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');

function checkpoint(mode: 'PASSIVE' | 'TRUNCATE'): Omit<CheckpointReport, 'kind'> {
  const started = performance.now();
  try {
    const [row] = db.pragma(`wal_checkpoint(${mode})`) as Array<{ busy: number; log: number; checkpointed: number }>;
    return { walFrames: row?.log ?? 0, copiedFrames: row?.checkpointed ?? 0, ms: performance.now() - started };
  } catch (err) {
    return { walFrames: 0, copiedFrames: 0, ms: performance.now() - started, error: err instanceof Error ? err.message : String(err) };
  }
}

port.on('message', (message: 'checkpoint' | 'close') => {
  if (message === 'checkpoint') {
    port.postMessage({ kind: 'checkpoint', ...checkpoint('PASSIVE') } satisfies CheckpointReport);
    return;
  }
  const report = checkpoint('TRUNCATE');
  db.close();
  port.postMessage({ kind: 'closed', ...report } satisfies CheckpointReport);
  port.close();
});
