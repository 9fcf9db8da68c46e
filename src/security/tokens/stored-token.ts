/**
 * Checking a presented token against its record in the store (join, read-only and session
 * tokens alike): the record must exist, the secret must hash to the stored hash, and it
 * must not have expired. Each refusal has its own code and names the token's id, never
 * its secret.
 */
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { KvStore } from '../../store/types.js';
import { secretMatches, type ParsedToken } from './secret.js';

export interface StoredTokenBase {
  readonly id: string;
  /** SHA-256 of the secret, hex. */
  readonly hash: string;
  readonly expiresAt: string;
}

const HOW_TO_GET: Readonly<Record<ParsedToken['kind'], string>> = {
  join: 'make a new one with `trellis token create --service NAME`',
  read: 'make a new one with `trellis token create --read-only`',
  session: 'the sidecar gets a new one with its join token (restart it with a fresh TRELLIS_TOKEN)',
};

/** @throws TrellisError TOKEN_INVALID (unknown, revoked, altered) / TOKEN_EXPIRED */
export async function readStoredToken<T extends StoredTokenBase>(store: KvStore, key: string, parsed: ParsedToken, now: number): Promise<T> {
  const { kv } = await store.get(key);
  const stored = kv === undefined ? undefined : JSON.parse(kv.value) as T;
  const name = `${parsed.kind === 'read' ? 'read-only' : parsed.kind} token ${parsed.id}`;
  if (stored === undefined || !secretMatches(parsed.secret, stored.hash)) {
    throw new TrellisError(ErrorCodes.TOKEN_INVALID, `${name} is not valid (unknown, expired, revoked or altered): ${HOW_TO_GET[parsed.kind]}`, { details: { tokenId: parsed.id } });
  }
  if (Date.parse(stored.expiresAt) <= now) {
    throw new TrellisError(ErrorCodes.TOKEN_EXPIRED, `${name} expired at ${stored.expiresAt}: ${HOW_TO_GET[parsed.kind]}`, { details: { tokenId: parsed.id } });
  }
  return stored;
}
