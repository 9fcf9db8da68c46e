/**
 * The embedded store backend: a KvStore on one SQLite file in the data dir.
 *
 *   const store = await openSqliteStore({ dataDir: '.trellis/data' });
 */
import Database from 'better-sqlite3';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { openDatabase } from './database.js';
import { describeOpenError } from './open-errors.js';
import { migrate } from './schema.js';
import { SqliteStore, type SqliteStoreOptions } from './store.js';

export { DATABASE_FILE } from './database.js';
export { DEFAULT_COMPACTION_INTERVAL_MS, DEFAULT_RETAIN_REVISIONS, type SqliteStore, type SqliteStoreOptions } from './store.js';

/**
 * Open the store in `options.dataDir`, creating the directory and the database if needed.
 *
 * Rejects with TRELLIS_ERR_DATA_DIR when the directory cannot be created or written (or another
 * process has the store open), and TRELLIS_ERR_DATA_CORRUPT when the file is not a Trellis
 * database or comes from a newer version; both messages are one line naming the path and the fix.
 */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  checkPositiveInteger('retainRevisions', options.retainRevisions);
  checkPositiveInteger('compactionIntervalMs', options.compactionIntervalMs);
  const { db, dir, file, unlock } = openDatabase(options.dataDir);
  try {
    return new SqliteStore(db, file, options, unlock);
  } catch (err) {
    db.close();
    unlock();
    throw describeOpenError(err, dir, file);
  }
}

function checkPositiveInteger(field: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
    throw new TrellisError(ErrorCodes.VALIDATION, `${field} must be a whole number ≥ 1 (got ${String(value)})`, { field });
  }
}

/** Watch history an ephemeral store keeps (its data is superseded within seconds anyway). */
const EPHEMERAL_RETAIN_REVISIONS = 10_000;

/**
 * A store in memory only, with revisions and history of its own: for data that must not use up
 * the main store's watch history or disk and need not survive a restart (sidecar telemetry
 * reports of an embedded control plane, which is always a single process).
 */
export function openEphemeralSqliteStore(options: Omit<SqliteStoreOptions, 'dataDir'> = {}): SqliteStore {
  const db = new Database(':memory:');
  migrate(db, ':memory:');
  return new SqliteStore(db, ':memory:', { retainRevisions: EPHEMERAL_RETAIN_REVISIONS, compactionIntervalMs: 10_000, ...options, dataDir: ':memory:' });
}
