/**
 * Join tokens: how a sidecar earns its first certificate. A token allows one identity
 * (a service in a namespace) until it expires. It is shown once, when made; the store
 * keeps only its SHA-256 under /security/tokens/<id>:
 *
 *     trellis-join.<id>.<secret>      id: 16 hex digits (names the record), secret: 32 random bytes, base64url
 *
 * A missing, malformed, unknown, altered or expired token is refused with its own code;
 * the secret is never logged nor sent back.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { serviceNameSchema } from '../../registry/schema.js';
import type { KvStore } from '../../store/types.js';
import { durationField, parseOrThrow } from '../../util/validation.js';
import { DEFAULT_NAMESPACE } from '../spiffe.js';

export const TOKENS_PREFIX = '/security/tokens/';
const TOKEN_SHAPE = /^trellis-join\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;
const DAY_MS = 24 * 3_600_000;

export interface JoinTokenRecord {
  readonly id: string;
  readonly service: string;
  readonly namespace: string;
  readonly createdAt: string;
  readonly expiresAt: string;
}

interface StoredToken extends JoinTokenRecord {
  /** SHA-256 of the secret, hex. */
  readonly hash: string;
}

export interface NewJoinToken extends JoinTokenRecord {
  /** The token itself: shown once. */
  readonly token: string;
}

const createSchema = z.object({
  service: serviceNameSchema,
  namespace: z.string({ invalid_type_error: 'namespace must be a name such as default' })
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'namespace must be lower-case letters, digits and dashes, such as default').default(DEFAULT_NAMESPACE),
  ttl: durationField('ttl', 1_000, 365 * DAY_MS).default('1h'),
}, { invalid_type_error: 'the body must be a JSON object such as {"service":"payments","ttl":"1h"}' }).strict();

function sha256(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function publicPart(stored: StoredToken): JoinTokenRecord {
  return { id: stored.id, service: stored.service, namespace: stored.namespace, createdAt: stored.createdAt, expiresAt: stored.expiresAt };
}

export class JoinTokens {
  readonly #store: KvStore;
  readonly #now: () => number;

  constructor(store: KvStore, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
  }

  /** @throws TrellisError VALIDATION naming the field */
  async create(input: unknown): Promise<NewJoinToken> {
    const { service, namespace, ttl } = parseOrThrow(createSchema, input);
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const now = this.#now();
    const stored: StoredToken = {
      id, service, namespace, hash: sha256(secret),
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + ttl).toISOString(),
    };
    await this.#store.put(`${TOKENS_PREFIX}${id}`, JSON.stringify(stored));
    return { ...publicPart(stored), token: `trellis-join.${id}.${secret}` };
  }

  /** The identity a token allows. @throws TrellisError TOKEN_MISSING / TOKEN_INVALID / TOKEN_EXPIRED */
  async verify(token: string | undefined): Promise<JoinTokenRecord> {
    if (token === undefined || token === '') {
      throw new TrellisError(ErrorCodes.TOKEN_MISSING, 'a join token is required: send "Authorization: Bearer <token>" (make one with `trellis token create --service NAME`)');
    }
    const match = TOKEN_SHAPE.exec(token);
    if (match === null) throw new TrellisError(ErrorCodes.TOKEN_INVALID, 'the join token is malformed (expected trellis-join.<id>.<secret>): copy it whole, as `trellis token create` printed it');
    const [, id, secret] = match as unknown as [string, string, string];
    const { kv } = await this.#store.get(`${TOKENS_PREFIX}${id}`);
    const stored = kv === undefined ? undefined : JSON.parse(kv.value) as StoredToken;
    const given = Buffer.from(sha256(secret), 'hex');
    if (stored === undefined || !timingSafeEqual(given, Buffer.from(stored.hash, 'hex'))) {
      throw new TrellisError(ErrorCodes.TOKEN_INVALID, `join token ${id} is not valid (unknown, revoked or altered): make a new one with \`trellis token create\``, { details: { tokenId: id } });
    }
    if (Date.parse(stored.expiresAt) <= this.#now()) {
      throw new TrellisError(ErrorCodes.TOKEN_EXPIRED, `join token ${id} expired at ${stored.expiresAt}: make a new one with \`trellis token create\``, { details: { tokenId: id } });
    }
    return publicPart(stored);
  }

  async list(): Promise<JoinTokenRecord[]> {
    const { kvs } = await this.#store.range(TOKENS_PREFIX);
    return kvs.map((kv) => publicPart(JSON.parse(kv.value) as StoredToken));
  }

  async revoke(id: string): Promise<boolean> {
    const { deleted } = await this.#store.delete(`${TOKENS_PREFIX}${id}`);
    return deleted > 0;
  }
}
