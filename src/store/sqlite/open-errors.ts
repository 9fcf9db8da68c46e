/**
 * The errors a store can fail to open with: one line each, naming the path and the fix,
 * because they are what an operator sees when the control plane refuses to start.
 */
import { basename, dirname } from 'node:path';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';

/** Why the file system refused, in words, for the errno codes a data dir commonly hits. */
const ERRNO_REASONS: Readonly<Record<string, string>> = {
  ENOTDIR: 'part of the path is a file, not a directory',
  EEXIST: 'it exists but is not a directory',
  ENOENT: 'the file system would not create it',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the path is too long',
  SQLITE_CANTOPEN: 'the database file cannot be opened or created',
  SQLITE_READONLY: 'the database file is read-only',
  SQLITE_PERM: 'permission denied',
  SQLITE_FULL: 'the disk is full',
  SQLITE_IOERR: 'disk I/O error',
};

const DATA_DIR_FIX = 'point --data-dir (or TRELLIS_DATA_DIR) at a directory this user can create and write';

/**
 * DATA_DIR: the data dir cannot be created or written. `err` is the underlying error, if any;
 * its errno or SQLite code picks the reason unless `reason` is given.
 */
export function unusableDataDir(dir: string, err: unknown, reason?: string): TrellisError {
  const code = errorCode(err);
  const why = reason ?? (code === undefined ? undefined : ERRNO_REASONS[code] ?? ERRNO_REASONS[primaryCode(code)]) ?? messageOf(err);
  const suffix = code === undefined ? '' : ` (${code})`;
  return new TrellisError(ErrorCodes.DATA_DIR, `cannot use data dir ${dir}: ${why}${suffix}; ${DATA_DIR_FIX}`, {
    cause: err,
    details: { dataDir: dir },
  });
}

/**
 * DATA_CORRUPT: the database file exists but cannot be used. `problem` says what is wrong with
 * it; `alternative` is a fix to offer before the default one (moving the file aside).
 */
export function corruptDatabase(file: string, problem: string, alternative?: string, cause?: unknown): TrellisError {
  const name = basename(file);
  const moveAside = `stop Trellis and move ${name} (and any ${name}-wal next to it) aside, e.g. to ${name}.bad, to start with an empty store`;
  const fix = alternative === undefined ? moveAside : `${alternative}, or ${moveAside}`;
  return new TrellisError(ErrorCodes.DATA_CORRUPT, `cannot open the store database ${file}: ${problem}; ${fix}`, {
    cause,
    details: { file },
  });
}

/**
 * DATA_CORRUPT: the database that held this mesh is gone or empty. Never started on as a new
 * store: that would make a new CA root (every sidecar's trust broken) and lose every
 * registration, policy and token without a word. `alternative` is a case-specific step.
 */
export function lostDatabase(file: string, problem: string, alternative?: string): TrellisError {
  const name = basename(file);
  const dir = dirname(file);
  const steps = [
    `stop Trellis and restore ${name} (with ${name}-wal, if the backup has one) from a backup into ${dir}`,
    `or, to start a brand-new mesh on purpose, move the whole data dir aside (mv ${dir} ${dir}.old) and give every sidecar a new join token`,
    ...(alternative === undefined ? [] : [`or, ${alternative}`]),
  ];
  return new TrellisError(ErrorCodes.DATA_CORRUPT, `refusing to start on the store database ${file}: ${problem}. To recover: ${steps.join('; ')}`, {
    details: { file },
  });
}

/**
 * Translate an error thrown while opening or migrating the database into DATA_DIR or
 * DATA_CORRUPT. TrellisErrors pass through unchanged.
 */
export function describeOpenError(err: unknown, dir: string, file: string): TrellisError {
  if (err instanceof TrellisError) return err;
  const code = errorCode(err) ?? '';
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return corruptDatabase(file, `it is not a valid SQLite database (${messageOf(err)})`, undefined, err);
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new TrellisError(
      ErrorCodes.DATA_DIR,
      `cannot use data dir ${dir}: ${basename(file)} is locked by another Trellis process; stop that process or use another --data-dir`,
      { cause: err, details: { dataDir: dir } },
    );
  }
  return unusableDataDir(dir, err);
}

/** SQLite's primary result code of an extended one: SQLITE_IOERR_WRITE → SQLITE_IOERR. */
function primaryCode(code: string): string {
  return code.startsWith('SQLITE_') ? code.split('_', 2).join('_') : code;
}

/** The `code` of a Node or SQLite error. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}
