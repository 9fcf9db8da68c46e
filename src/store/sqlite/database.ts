/**
 * Opening the database file: create the data dir (0700), create `trellis.db` (0600: SQLite gives
 * its -wal and -shm the database's mode), open it in WAL mode with an exclusive lock, and migrate
 * the schema, turning every failure into a one-line DATA_DIR or DATA_CORRUPT error. An existing
 * `trellis.db` of 0 bytes is never taken for a new store (DATA_CORRUPT, with the recovery steps).
 */
import { accessSync, closeSync, constants, openSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../../util/private-modes.js';
import { makeDirectory } from '../../util/make-directory.js';
import { describeOpenError, errorCode, lostDatabase, unusableDataDir } from './open-errors.js';
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
  createPrivateFile(dir, file);
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
    // Deleted rows are zeroed in the pages a write touches anyway (no extra I/O): old values do not linger in free space.
    db.pragma('secure_delete = FAST');
    migrate(db, file);
  } catch (err) {
    db.close();
    throw describeOpenError(err, dir, file);
  }
  return { db, dir, file };
}

/**
 * Erase what was deleted from the database file and its WAL: VACUUM rebuilds the file from the
 * live rows only, and a TRUNCATE checkpoint copies it back and empties the WAL (whose old frames
 * held the previous page images).
 */
export function eraseFreedData(db: Database.Database): void {
  db.exec('VACUUM');
  db.pragma('wal_checkpoint(TRUNCATE)');
}

/** Create `dir` (with its parents) and check this process can write in it; DATA_DIR otherwise. */
function ensureWritableDir(dir: string): void {
  try {
    makeDirectory(dir, PRIVATE_DIR_MODE);
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw unusableDataDir(dir, err);
  }
}

/**
 * A missing database file is created empty with mode 0600 (before SQLite creates it with the
 * umask's); an existing one of 0 bytes is refused: it once held a store (ours always has a schema).
 */
function createPrivateFile(dir: string, file: string): void {
  let size: number | undefined;
  try {
    size = statSync(file).size;
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw unusableDataDir(dir, err);
  }
  if (size === 0) {
    throw lostDatabase(file, 'it is empty (0 bytes): it was truncated or replaced, and starting on it would make a brand-new mesh',
      'if this data dir\'s very first start was interrupted and it holds nothing else, delete the empty file');
  }
  if (size !== undefined) return;
  try {
    closeSync(openSync(file, 'wx', PRIVATE_FILE_MODE));
  } catch (err) {
    if (errorCode(err) !== 'EEXIST') throw unusableDataDir(dir, err);
  }
}
