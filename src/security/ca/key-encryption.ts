/**
 * The key-encryption key (KEK) that wraps the CA's root keys wherever the store keeps them
 * (`/ca/keys/<id>`: SQLite, or etcd shared by several control planes): AES-256-GCM (node:crypto),
 * a fresh 96-bit IV per wrapping, the root's id as additional data (a wrapped key moved to
 * another id does not open). The KEK itself never enters the store:
 *
 *   TRELLIS_CA_KEK            base64 of 32 bytes (replicas on one etcd must share one KEK)
 *   --ca-kek-file FILE        a file holding the same (e.g. from a secret manager's mount)
 *   <data-dir>/ca/kek         otherwise: made on the first start, mode 0600
 *
 * A wrapped key names its KEK by id (the first 8 bytes of the KEK's SHA-256, hex), so that a
 * control plane with another KEK says so instead of failing on a bad tag.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';
import { writeKeyFile } from './key-file.js';

export const KEK_ENV = 'TRELLIS_CA_KEK';
export const KEK_FILE = 'kek';
const ALGORITHM = 'aes-256-gcm';
const KEK_BYTES = 32;
const IV_BYTES = 12;

/** Where the KEK comes from: given (the env var's value, or a file), else the data dir's file. */
export interface KekSource {
  readonly dataDir: string;
  /** The value of TRELLIS_CA_KEK, if set. */
  readonly value?: string;
  /** --ca-kek-file. */
  readonly file?: string;
}

/** A root key as the store keeps it. */
interface WrappedKey {
  readonly wrapped: 'A256GCM';
  readonly kek: string;
  readonly iv: string;
  readonly tag: string;
  readonly data: string;
}

const HOW_TO_GIVE = `give every control plane on this store the same KEK: ${KEK_ENV} (base64 of 32 bytes) or --ca-kek-file FILE, or the file <data-dir>/ca/${KEK_FILE} copied from the control plane that made the root`;

function kekError(message: string, cause?: unknown): TrellisError {
  return new TrellisError(ErrorCodes.CA_KEK, message, cause === undefined ? {} : { cause });
}

function decode(text: string, where: string): Buffer {
  const trimmed = text.trim();
  const bytes = Buffer.from(trimmed, /[-_]/.test(trimmed) ? 'base64url' : 'base64');
  if (bytes.length !== KEK_BYTES || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    throw kekError(`${where} is not a key-encryption key: it must be base64 of exactly ${KEK_BYTES} bytes (make one with \`openssl rand -base64 ${KEK_BYTES}\`)`);
  }
  return bytes;
}

function aad(rootId: string): Buffer {
  return Buffer.from(`trellis/ca/keys/${rootId}`);
}

/** Whether a stored root key is wrapped (an older Trellis stored the PEM itself). */
export function isWrapped(stored: string): boolean {
  return stored.startsWith('{') && stored.includes('"wrapped"');
}

export class KeyEncryptionKey {
  /** Names the KEK in wrapped keys and messages (not secret: 8 bytes of its SHA-256). */
  readonly id: string;
  /** Where it came from, for messages. */
  readonly source: string;
  readonly #key: Buffer;

  private constructor(key: Buffer, source: string) {
    this.#key = key;
    this.source = source;
    this.id = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  /**
   * The KEK from its source. The data dir's file is made when missing only if `mayCreate` (no
   * key in the store is wrapped yet); else its absence is CA_KEK, naming how to give it.
   */
  static open(source: KekSource, mayCreate: boolean): KeyEncryptionKey {
    if (source.value !== undefined) return new KeyEncryptionKey(decode(source.value, KEK_ENV), KEK_ENV);
    if (source.file !== undefined) return new KeyEncryptionKey(decode(readKek(source.file, '--ca-kek-file'), `--ca-kek-file ${source.file}`), `--ca-kek-file ${source.file}`);
    const path = join(source.dataDir, 'ca', KEK_FILE);
    if (existsSync(path)) return new KeyEncryptionKey(decode(readKek(path, path), path), path);
    if (!mayCreate) {
      throw kekError(`the CA's root keys in the store are wrapped with a key-encryption key, and this control plane has none (no ${KEK_ENV}, no --ca-kek-file, no ${path}): ${HOW_TO_GIVE}; if the KEK is lost, the wrapped root keys cannot be recovered: start a new mesh on an empty store`);
    }
    const key = randomBytes(KEK_BYTES);
    writeKeyFile(path, `${key.toString('base64')}\n`);
    return new KeyEncryptionKey(key, path);
  }

  wrap(rootId: string, pem: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.#key, iv);
    cipher.setAAD(aad(rootId));
    const data = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()]);
    const wrapped: WrappedKey = { wrapped: 'A256GCM', kek: this.id, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
    return JSON.stringify(wrapped);
  }

  /** @throws TrellisError CA_KEK (another KEK), DATA_CORRUPT (not a wrapped key, or altered). */
  unwrap(rootId: string, stored: string): string {
    let wrapped: WrappedKey;
    try {
      wrapped = JSON.parse(stored) as WrappedKey;
    } catch (err) {
      throw new TrellisError(ErrorCodes.DATA_CORRUPT, `the CA key /ca/keys/${rootId} in the store is not a wrapped key: ${messageOf(err)}`, { cause: err });
    }
    if (wrapped.kek !== this.id) {
      throw kekError(`the CA key of ${rootId} in the store is wrapped with key-encryption key ${String(wrapped.kek)}, but this control plane's KEK (${this.source}) is ${this.id}: ${HOW_TO_GIVE}`);
    }
    try {
      const decipher = createDecipheriv(ALGORITHM, this.#key, Buffer.from(wrapped.iv, 'base64'));
      decipher.setAAD(aad(rootId));
      decipher.setAuthTag(Buffer.from(wrapped.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(wrapped.data, 'base64')), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new TrellisError(ErrorCodes.DATA_CORRUPT, `the CA key /ca/keys/${rootId} in the store does not open with KEK ${this.id}: it was altered or damaged (restore the store from a backup)`, { cause: err });
    }
  }
}

function readKek(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw kekError(`cannot read the key-encryption key ${what === path ? path : `${what} ${path}`}: ${messageOf(err)}`, err);
  }
}
