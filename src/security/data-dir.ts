/**
 * Secrets at rest: a control plane's data dir holds the store (trellis.db, -wal, -shm), the CA's
 * root keys and key-encryption key (ca/), and the admin token. None of it is for other users of
 * the machine: the dir and every dir in it are 0700, every file 0600.
 *
 * Checked at every start, before the store opens: the dir and what Trellis keeps in it (other
 * files are not touched: a data dir given as `.` must not chmod a project) — anything looser is tightened, with a warning
 * that names the path, what it was and the `chmod` that fixes it (so a data dir made by an older
 * Trellis, or copied with `cp -r`, is mended); what cannot be tightened (another user's file) is
 * refused with the `chmod` to run. And an embedded store whose database is missing while the data
 * dir holds an existing mesh's keys or admin token refuses to start (DATA_CORRUPT): a brand-new
 * mesh is never made silently over an old one.
 */
import { chmodSync, existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import { DATABASE_FILE, LOCK_FILE } from '../store/sqlite/database.js';
import { lostDatabase, unusableDataDir } from '../store/sqlite/open-errors.js';
import { makeDirectory } from '../util/make-directory.js';
import { NOT_PRIVATE_BITS, PRIVATE_DIR_MODE } from '../util/private-modes.js';
import { ADMIN_TOKEN_FILE } from './tokens/admin-token.js';

/** The data dir's directory of CA key material (root keys, the key-encryption key). */
export const CA_DIR = 'ca';

export interface DataDirOptions {
  readonly logger: Logger;
  /** The store is the embedded SQLite one in this dir (its database is expected once the mesh exists). */
  readonly embedded: boolean;
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/** Create the data dir (0700) if needed, tighten what others could read, and refuse a lost database. */
export function prepareDataDir(dataDir: string, options: DataDirOptions): void {
  const dir = resolve(dataDir);
  try {
    makeDirectory(dir, PRIVATE_DIR_MODE);
  } catch (err) {
    throw unusableDataDir(dir, err);
  }
  tighten(dir, options.logger);
  if (options.embedded) refuseLostDatabase(dir);
}

/** What Trellis keeps in a data dir: only these are tightened (a data dir given as `.` must not chmod a project's files). */
function isOurs(name: string): boolean {
  return name.startsWith(DATABASE_FILE) || name.startsWith(LOCK_FILE) || name === ADMIN_TOKEN_FILE || name.startsWith(`${ADMIN_TOKEN_FILE}.`) || name === CA_DIR;
}

/** Make the data dir, and what Trellis keeps in it, private. */
function tighten(dir: string, logger: Logger): void {
  tightenOne(dir, dir, statSync(dir).isDirectory(), statSync(dir).mode, logger);
  for (const name of readdirSync(dir).filter(isOurs)) tightenTree(dir, join(dir, name), logger);
}

/** `path` and everything under it; symbolic links are left alone (their own mode means nothing). */
function tightenTree(root: string, path: string, logger: Logger): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return;
  tightenOne(root, path, stat.isDirectory(), stat.mode, logger);
  if (stat.isDirectory()) for (const entry of readdirSync(path)) tightenTree(root, join(path, entry), logger);
}

function tightenOne(root: string, path: string, isDir: boolean, mode: number, logger: Logger): void {
  if ((mode & NOT_PRIVATE_BITS) === 0) return;
  const wanted = mode & 0o700;
  const fix = `chmod ${isDir ? 'go-rwx' : wanted.toString(8).padStart(3, '0')} ${path}`;
  try {
    chmodSync(path, wanted);
  } catch (err) {
    throw new TrellisError(ErrorCodes.DATA_DIR,
      `${path} has mode ${octal(mode)}: other users of this machine may read the mesh's secrets, and Trellis cannot change it (${messageOf(err)}); as its owner run \`${fix}\` (or \`chmod -R go-rwx ${root}\`), then start again`,
      { cause: err, details: { path, mode: octal(mode) } });
  }
  const advice = isDir ? '' : '; if anyone else could read it, rotate the CA (`trellis ca rotate`) and replace the admin and join tokens';
  logger.warn({ path, was: octal(mode), now: octal(wanted), fix },
    `${path} was open to other users (mode ${octal(mode)}): Trellis set it to ${octal(wanted)} (\`${fix}\`)${advice}`);
}

/** What a control plane leaves in its data dir once its mesh exists. */
function meshEvidence(dir: string): string[] {
  const found: string[] = [];
  const ca = join(dir, CA_DIR);
  if (existsSync(ca) && lstatSync(ca).isDirectory()) found.push(...readdirSync(ca).map((name) => `${CA_DIR}/${name}`));
  if (existsSync(join(dir, ADMIN_TOKEN_FILE))) found.push(ADMIN_TOKEN_FILE);
  return found;
}

function refuseLostDatabase(dir: string): void {
  const file = join(dir, DATABASE_FILE);
  if (existsSync(file)) return;
  const evidence = meshEvidence(dir);
  if (evidence.length === 0) return;
  const shown = evidence.length > 4 ? [...evidence.slice(0, 4), `${evidence.length - 4} more`] : evidence;
  throw lostDatabase(file, `it is missing, but the data dir holds an existing mesh (${shown.join(', ')}), and starting without it would make a brand-new mesh`,
    `if this data dir ran on an etcd store, start it with that --store again`);
}
