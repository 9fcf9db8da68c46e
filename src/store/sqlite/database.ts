/**
 * Opening the database file: create the data dir, open `trellis.db` in WAL mode with an
 * exclusive lock, and migrate the schema, turning every failure into a one-line DATA_DIR or
 * DATA_CORRUPT error.
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { describeOpenError, errorCode, unusableDataDir } from './open-errors.js';
import { migrate } from './schema.js';

/** The database file inside the data dir. */
export const DATABASE_FILE = 'trellis.db';

/**
 * How long opening waits for another process that holds the database lock. Long enough for a
 * previous control plane that is shutting down; short enough to fail fast when two run at once.
 */
const LOCK_TIMEOUT_MS = 1_000;

export interface OpenedDatabase {
  db: Database.Database;
  /** Absolute path of the data dir. */
  dir: string;
  /** Absolute path of the database file. */
  file: string;
}

/**
 * Open (creating if needed) the store database in `dataDir`.
 *
 * Pragmas:
 * - `locking_mode=EXCLUSIVE`: this connection keeps the file locked, so a second process on the
 *   same data dir fails at open instead of corrupting the revision sequence; and no `-shm` file.
 * - `journal_mode=WAL` with `synchronous=NORMAL`: a commit survives the process being killed
 *   (kill -9); only an OS crash or power loss can lose the last few commits, never corrupt the file.
 */
export function openDatabase(dataDir: string): OpenedDatabase {
  const dir = resolve(dataDir);
  ensureWritableDir(dir);
  const file = join(dir, DATABASE_FILE);
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: LOCK_TIMEOUT_MS });
  } catch (err) {
    throw describeOpenError(err, dir, file);
  }
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw unusableDataDir(dir, undefined, `the file system does not support SQLite's WAL mode (journal mode is ${String(mode)})`);
    db.pragma('synchronous = NORMAL');
    migrate(db, file);
  } catch (err) {
    db.close();
    throw describeOpenError(err, dir, file);
  }
  return { db, dir, file };
}

/** Create `dir` (with its parents) and check this process can write in it; DATA_DIR otherwise. */
function ensureWritableDir(dir: string): void {
  try {
    makeDirectory(dir);
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw unusableDataDir(dir, err);
  }
}

/**
 * `mkdir -p`, by hand: Node's `mkdirSync(…, { recursive: true })` spins forever when a
 * parent refuses with ENOENT (e.g. anything under /proc). Throws EEXIST if `dir` is a file.
 */
function makeDirectory(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'EEXIST' && statSync(dir).isDirectory()) return;
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    makeDirectory(parent);
    mkdirSync(dir);
  }
}
