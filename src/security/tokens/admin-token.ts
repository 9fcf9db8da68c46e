/**
 * The admin token: what the control plane's administrative calls (making join tokens,
 * rotating the CA) require. Made on first start and written only to `<data-dir>/admin-token`
 * (mode 0600); `trellis server` shows it once on a terminal, never on a pipe or in a log. The
 * store keeps only its SHA-256, under /security/admin-token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { KvStore } from '../../store/types.js';
import { writeKeyFile } from '../ca/key-file.js';

export const ADMIN_TOKEN_KEY = '/security/admin-token';
export const ADMIN_TOKEN_FILE = 'admin-token';

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

export class AdminToken {
  readonly #hash: Buffer;

  private constructor(hash: Buffer) {
    this.#hash = hash;
  }

  /** Load the token's hash, or make the token (first start): `created` is then the token, to show once. */
  static async open(store: KvStore, dataDir: string): Promise<{ admin: AdminToken; created: string | undefined }> {
    const { kv } = await store.get(ADMIN_TOKEN_KEY);
    if (kv !== undefined) return { admin: new AdminToken(Buffer.from(kv.value, 'hex')), created: undefined };
    const token = `trellis-admin.${randomBytes(32).toString('base64url')}`;
    const hash = sha256(token);
    try {
      // Create-only: two replicas starting together on one store (etcd) must agree on one token.
      await store.put(ADMIN_TOKEN_KEY, hash.toString('hex'), { ifModRevision: 0 });
    } catch (err) {
      if (!(err instanceof TrellisError) || err.code !== ErrorCodes.CONFLICT) throw err;
      const { kv: theirs } = await store.get(ADMIN_TOKEN_KEY);
      if (theirs === undefined) throw err;
      return { admin: new AdminToken(Buffer.from(theirs.value, 'hex')), created: undefined };
    }
    writeKeyFile(join(dataDir, ADMIN_TOKEN_FILE), `${token}\n`);
    return { admin: new AdminToken(hash), created: token };
  }

  /** @throws TrellisError TOKEN_MISSING / TOKEN_INVALID */
  check(bearer: string | undefined): void {
    if (bearer === undefined || bearer === '') {
      throw new TrellisError(ErrorCodes.TOKEN_MISSING, 'this call needs the admin token: send "Authorization: Bearer <admin token>" (the CLI reads TRELLIS_ADMIN_TOKEN, or <data-dir>/admin-token)');
    }
    if (!timingSafeEqual(sha256(bearer), this.#hash)) {
      throw new TrellisError(ErrorCodes.TOKEN_INVALID, 'the admin token is not valid: it is in <data-dir>/admin-token of the control plane that made it (the CLI reads TRELLIS_ADMIN_TOKEN, or that file through TRELLIS_DATA_DIR)');
    }
  }
}
