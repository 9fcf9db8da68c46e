/**
 * Secret files of the data dir (root keys, the key-encryption key, the admin token): written once, mode 0600 from the first byte (a temporary file created
 * with that mode, then renamed into place), never rewritten. A key file that others can
 * read is tightened to 0600 with a warning.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';
import { NOT_PRIVATE_BITS, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../../util/private-modes.js';

export const KEY_FILE_MODE = PRIVATE_FILE_MODE;

export function writeKeyFile(path: string, pem: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
    const temporary = `${path}.${process.pid}.tmp`;
    writeFileSync(temporary, pem, { mode: KEY_FILE_MODE, flag: 'wx' });
    renameSync(temporary, path);
  } catch (err) {
    throw new TrellisError(ErrorCodes.CA, `cannot write the CA key file ${path}: ${messageOf(err)} (check the data dir's permissions)`, { cause: err });
  }
}

export function readKeyFile(path: string, logger: Logger): string {
  let pem: string;
  try {
    const mode = statSync(path).mode & 0o777;
    if ((mode & NOT_PRIVATE_BITS) !== 0) {
      chmodSync(path, KEY_FILE_MODE);
      logger.warn({ file: path, mode: mode.toString(8) }, 'the CA key file was readable by others: its mode is now 0600');
    }
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TrellisError(ErrorCodes.CA, `cannot read the CA key file ${path}: ${messageOf(err)} (restore it, or start with an empty data dir for a new CA)`, { cause: err });
  }
  return pem;
}
