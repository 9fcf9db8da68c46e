/**
 * Opening the database file: create the data dir (0700), take the data dir's lock (`trellis.lock`),
 * create `trellis.db` (0600: SQLite gives its -wal and -shm the database's mode), open it in WAL
 * mode and migrate the schema, turning every failure into a one-line DATA_DIR or DATA_CORRUPT
 * error. An existing `trellis.db` of 0 bytes is never taken for a new store (DATA_CORRUPT, with
 * the recovery steps).
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
/** The data dir's lock: held (an exclusive SQLite lock) by the one process using the store. */
export const LOCK_FILE = 'trellis.lock';

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
  /** Give up the data dir's lock: after the store's connections are closed. */
  unlock(): void;
}

/**
 * Open (creating if needed) the store database in `dataDir`.
 *
 * - The data dir's lock (`trellis.lock`, see lockDataDir) is taken first, so a second process on
 *   the same data dir fails at open instead of corrupting the revision sequence. The database
 *   itself uses SQLite's normal locking, so that the checkpoint thread (checkpointer.ts) can
 *   have a connection of its own.
 * - `journal_mode=WAL` with `synchronous=NORMAL`: a commit survives the process being killed
 *   (kill -9); only an OS crash or power loss can lose the last few commits, never corrupt the file.
 */
export function openDatabase(dataDir: string): OpenedDatabase {
  const dir = resolve(dataDir);
  ensureWritableDir(dir);
  const file = join(dir, DATABASE_FILE);
  const lock = lockDataDir(dir, file);
  createPrivateFile(dir, file);
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: LOCK_TIMEOUT_MS });
  } catch (err) {
    lock.close();
    throw describeOpenError(err, dir, file);
  }
  try {
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw unusableDataDir(dir, undefined, `the file system does not support SQLite's WAL mode (journal mode is ${String(mode)})`);
    db.pragma('synchronous = NORMAL');
    // Sorts and statement journals in memory: a temporary file's writes can wait for the disk.
    db.pragma('temp_store = MEMORY');
    // Deleted rows are zeroed in the pages a write touches anyway (no extra I/O): old values do not linger in free space.
    db.pragma('secure_delete = FAST');
    migrate(db, file);
    // A WAL left by a crash (kill -9 under a stream of writes: hundreds of MB) is copied in and
    // truncated before serving: every read would otherwise look its pages up in that WAL's
    // index (a restart at 100k instances took 17 s to serve, 60% of it in reads).
    db.pragma('wal_checkpoint(TRUNCATE)');
  } catch (err) {
    db.close();
    lock.close();
    throw describeOpenError(err, dir, file);
  }
  return { db, dir, file, unlock: () => lock.close() };
}

/**
 * Hold the data dir's lock: `trellis.lock` is a tiny SQLite database on which this process
 * keeps an exclusive lock (locking_mode=EXCLUSIVE after a write) until it closes it; the kernel
 * drops the lock if the process dies, even by kill -9. A second process gets SQLITE_BUSY after
 * LOCK_TIMEOUT_MS, reported as the data dir being in use (DATA_DIR), naming the database.
 */
function lockDataDir(dir: string, file: string): Database.Database {
  const path = join(dir, LOCK_FILE);
  try {
    closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
  } catch (err) {
    throw unusableDataDir(dir, err);
  }
  let lock: Database.Database | undefined;
  try {
    lock = new Database(path, { timeout: LOCK_TIMEOUT_MS });
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.pragma('journal_mode = DELETE');
    lock.exec(`BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS held (pid INTEGER); DELETE FROM held; INSERT INTO held VALUES (${process.pid}); COMMIT`);
    return lock;
  } catch (err) {
    lock?.close();
    throw describeOpenError(err, dir, file);
  }
}

/**
 * Erase what was deleted from the database file and its WAL: VACUUM rebuilds the file from the
 * live rows only, and a TRUNCATE checkpoint copies it back and empties the WAL (whose old frames
 * held the previous page images).
 */
export function eraseFreedData(db: Database.Database): void {
  // The store's connection does not sync (checkpointer.ts); this explicit rewrite does.
  const synchronous = db.pragma('synchronous', { simple: true }) as number;
  db.pragma('synchronous = NORMAL');
  try {
    db.exec('VACUUM');
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.pragma(`synchronous = ${synchronous}`);
  }
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
