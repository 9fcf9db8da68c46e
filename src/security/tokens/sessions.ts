/**
 * Sidecar sessions: the credential a running sidecar uses for the API, scoped to its service.
 * A join token lives an hour; a session is handed out with every certificate (it lives as long
 * as that certificate, and the next renewal brings the next one) and, for sidecars without
 * certificates (mTLS off), in exchange for a join token or the current session
 * (`POST /v1/sessions`). So a sidecar never depends on its join token after its first minutes.
 *
 *     trellis-session.<id>.<secret>    stored hashed under /security/sessions/<id>, on a lease:
 *                                      the store forgets it shortly after it expires
 */
import { systemClock, type Clock } from '../../core/clock.js';
import type { KvStore } from '../../store/types.js';
import { newSecret, type ParsedToken } from './secret.js';
import { readStoredToken } from './stored-token.js';

export const SESSIONS_PREFIX = '/security/sessions/';
/** The record outlives the session a little, so that an expired one is named as expired. */
const LEASE_SLACK_MS = 60_000;

export interface SessionScope {
  readonly service: string;
  readonly namespace: string;
}

export interface SessionRecord extends SessionScope {
  readonly id: string;
  readonly expiresAt: string;
}

/** What a sidecar receives: the token (once) and when it expires. */
export interface SessionGrant extends SessionRecord {
  readonly token: string;
}

interface StoredSession extends SessionRecord {
  readonly hash: string;
  readonly createdAt: string;
}

export class SessionTokens {
  readonly #store: KvStore;
  readonly #clock: Clock;

  /** Expiries are read on `clock` (default: the real one). */
  constructor(store: KvStore, clock: Clock = systemClock) {
    this.#store = store;
    this.#clock = clock;
  }

  async issue(scope: SessionScope, expiresAt: Date): Promise<SessionGrant> {
    const made = newSecret('session');
    const now = this.#clock.now();
    const stored: StoredSession = {
      id: made.id, hash: made.hash, service: scope.service, namespace: scope.namespace,
      createdAt: new Date(now).toISOString(), expiresAt: expiresAt.toISOString(),
    };
    const lease = await this.#store.grantLease(Math.max(1_000, expiresAt.getTime() - now + LEASE_SLACK_MS));
    await this.#store.put(`${SESSIONS_PREFIX}${made.id}`, JSON.stringify(stored), { lease: lease.id });
    return { id: made.id, service: scope.service, namespace: scope.namespace, expiresAt: stored.expiresAt, token: made.token };
  }

  /** @throws TrellisError TOKEN_INVALID / TOKEN_EXPIRED */
  async verify(parsed: ParsedToken): Promise<SessionRecord> {
    const stored = await readStoredToken<StoredSession>(this.#store, `${SESSIONS_PREFIX}${parsed.id}`, parsed, this.#clock.now());
    return { id: stored.id, service: stored.service, namespace: stored.namespace, expiresAt: stored.expiresAt };
  }
}
