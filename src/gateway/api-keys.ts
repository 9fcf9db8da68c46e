/**
 * API keys at the gateway, hashed at rest: the config holds each key's SHA-256 (never the
 * key), the key a request sends is hashed and looked up, and the hashes compared in
 * constant time. The key's name is the client's identity (forwarded as x-trellis-client).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeysConfig } from './config.js';

export class ApiKeys {
  readonly header: string;
  readonly #byHash = new Map<string, { name: string; digest: Buffer }>();

  constructor(config: ApiKeysConfig) {
    this.header = config.header;
    for (const key of config.keys) this.#byHash.set(key.sha256, { name: key.name, digest: Buffer.from(key.sha256, 'hex') });
  }

  /** The name of the key `presented` is; undefined when it is none of them. */
  identify(presented: string): string | undefined {
    const digest = createHash('sha256').update(presented).digest();
    const entry = this.#byHash.get(digest.toString('hex'));
    return entry !== undefined && timingSafeEqual(entry.digest, digest) ? entry.name : undefined;
  }
}

/** The SHA-256 a config holds for `key` (`trellis gateway hash-key`). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
