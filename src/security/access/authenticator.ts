/**
 * From a bearer token to the principal it proves: the admin token, a read-only token, a join
 * token or a sidecar session. Every refusal is a 401 whose message says how to get and pass a
 * token; the secret never appears in a message or a log.
 */
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { AdminToken } from '../tokens/admin-token.js';
import type { JoinTokens } from '../tokens/join-tokens.js';
import { parseToken } from '../tokens/secret.js';
import type { SessionTokens } from '../tokens/sessions.js';
import type { Principal } from './permissions.js';

export const HOW_TO_PASS = 'send "Authorization: Bearer <token>": the admin token (in <data-dir>/admin-token of the control plane; the CLI reads TRELLIS_ADMIN_TOKEN or TRELLIS_DATA_DIR), a read-only token (`trellis token create --read-only`), or a sidecar\'s token (`trellis token create --service NAME`, passed in TRELLIS_TOKEN)';

export class Authenticator {
  readonly #admin: AdminToken;
  readonly #tokens: JoinTokens;
  readonly #sessions: SessionTokens;

  constructor(admin: AdminToken, tokens: JoinTokens, sessions: SessionTokens) {
    this.#admin = admin;
    this.#tokens = tokens;
    this.#sessions = sessions;
  }

  /**
   * `bearer`: the token, '' for a malformed Authorization header, undefined for none.
   * @throws TrellisError TOKEN_MISSING / TOKEN_INVALID / TOKEN_EXPIRED
   */
  async authenticate(bearer: string | undefined): Promise<Principal> {
    if (bearer === undefined) throw new TrellisError(ErrorCodes.TOKEN_MISSING, `this call needs a token: ${HOW_TO_PASS}`);
    if (bearer === '') throw new TrellisError(ErrorCodes.TOKEN_INVALID, `the Authorization header is malformed: ${HOW_TO_PASS}`);
    if (bearer.startsWith('trellis-admin.')) {
      this.#admin.check(bearer);
      return { kind: 'admin' };
    }
    const parsed = parseToken(bearer);
    if (parsed === undefined) {
      throw new TrellisError(ErrorCodes.TOKEN_INVALID, `the token is malformed (expected trellis-admin.…, trellis-read.…, trellis-join.… or trellis-session.…): copy it whole, as it was printed; ${HOW_TO_PASS}`);
    }
    if (parsed.kind === 'session') {
      const session = await this.#sessions.verify(parsed);
      return { kind: 'sidecar', via: 'session', tokenId: session.id, service: session.service, namespace: session.namespace };
    }
    const record = await this.#tokens.verify(parsed);
    if (record.kind === 'read') return { kind: 'read', tokenId: record.id, expiresAt: record.expiresAt };
    return { kind: 'sidecar', via: 'join', tokenId: record.id, service: record.service ?? '', namespace: record.namespace ?? '' };
  }
}
