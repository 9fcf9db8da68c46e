/**
 * Tokens the admin makes (`POST /v1/tokens`, `trellis token create`), shown once when made;
 * the store keeps only the SHA-256 of the secret under /security/tokens/<id>:
 *
 *   join tokens       trellis-join.<id>.<secret>  one identity (a service in a namespace): a sidecar
 *                     of that service earns its first certificate and its session with it
 *   read-only tokens  trellis-read.<id>.<secret>  reads the mesh (registry, policies, metrics,
 *                     the dashboard) and writes nothing: for people and tools
 *
 * Both expire (default 1 h). A missing, malformed, unknown, altered or expired token is
 * refused with its own code; the secret is never logged nor sent back.
 */
import { z } from 'zod';
import { systemClock, type Clock } from '../../core/clock.js';
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { KvStore } from '../../store/types.js';
import { serviceNameSchema } from '../../registry/schema.js';
import { durationField, parseOrThrow } from '../../util/validation.js';
import { DEFAULT_NAMESPACE } from '../spiffe.js';
import { newSecret, type ParsedToken } from './secret.js';
import { readStoredToken } from './stored-token.js';

export const TOKENS_PREFIX = '/security/tokens/';
const DAY_MS = 24 * 3_600_000;

export interface JoinTokenRecord {
  readonly id: string;
  /** join: a sidecar of `service`; read: read-only, no service. */
  readonly kind: 'join' | 'read';
  readonly service: string | null;
  readonly namespace: string | null;
  readonly createdAt: string;
  readonly expiresAt: string;
}

interface StoredToken extends JoinTokenRecord {
  readonly hash: string;
}

export interface NewJoinToken extends JoinTokenRecord {
  /** The token itself: shown once. */
  readonly token: string;
}

const namespaceSchema = z.string({ invalid_type_error: 'namespace must be a name such as default' })
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'namespace must be lower-case letters, digits and dashes, such as default');

const createSchema = z.object({
  service: serviceNameSchema.optional(),
  namespace: namespaceSchema.optional(),
  readOnly: z.boolean({ invalid_type_error: 'readOnly must be true or false' }).optional(),
  ttl: durationField('ttl', 1_000, 365 * DAY_MS).default('1h'),
}, { invalid_type_error: 'the body must be a JSON object such as {"service":"payments","ttl":"1h"} or {"readOnly":true}' }).strict()
  .superRefine((body, ctx) => {
    if (body.readOnly === true && (body.service !== undefined || body.namespace !== undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['service'], message: 'a read-only token is for no service: give service or readOnly, not both' });
    } else if (body.readOnly !== true && body.service === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['service'], message: 'service is required (the service a sidecar may be), or readOnly: true for a read-only token' });
    }
  });

/** A record written before kinds existed is a join token. */
function publicPart(stored: StoredToken): JoinTokenRecord {
  return {
    id: stored.id, kind: stored.kind ?? 'join', service: stored.service ?? null, namespace: stored.namespace ?? null,
    createdAt: stored.createdAt, expiresAt: stored.expiresAt,
  };
}

export class JoinTokens {
  readonly #store: KvStore;
  readonly #clock: Clock;

  /** Expiries are read on `clock` (default: the real one). */
  constructor(store: KvStore, clock: Clock = systemClock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** @throws TrellisError VALIDATION naming the field */
  async create(input: unknown): Promise<NewJoinToken> {
    const { service, namespace, readOnly, ttl } = parseOrThrow(createSchema, input);
    const kind = readOnly === true ? 'read' : 'join';
    const made = newSecret(kind);
    const now = this.#clock.now();
    const stored: StoredToken = {
      id: made.id, kind, hash: made.hash,
      service: service ?? null,
      namespace: kind === 'join' ? namespace ?? DEFAULT_NAMESPACE : null,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + ttl).toISOString(),
    };
    await this.#store.put(`${TOKENS_PREFIX}${made.id}`, JSON.stringify(stored));
    return { ...publicPart(stored), token: made.token };
  }

  /** The record of a join or read-only token. @throws TrellisError TOKEN_INVALID / TOKEN_EXPIRED */
  async verify(parsed: ParsedToken): Promise<JoinTokenRecord> {
    const record = publicPart(await readStoredToken<StoredToken>(this.#store, `${TOKENS_PREFIX}${parsed.id}`, parsed, this.#clock.now()));
    if (record.kind !== parsed.kind) {
      throw new TrellisError(ErrorCodes.TOKEN_INVALID, `token ${parsed.id} is not a ${parsed.kind} token (altered): copy it whole, as it was printed`, { details: { tokenId: parsed.id } });
    }
    return record;
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
