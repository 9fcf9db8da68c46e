/**
 * What a sidecar sends to the control plane's API: its newest session while that is valid,
 * else the token it was started with (a join token, in TRELLIS_TOKEN or --token-file).
 * Sessions arrive with every certificate (mTLS on) or from the session keeper (mTLS off).
 */
import type { SessionGrant } from './sessions.js';

export class SidecarCredential {
  readonly #given: string | undefined;
  #session: { readonly token: string; readonly expiresAt: number } | undefined;

  constructor(given: string | undefined) {
    this.#given = given;
  }

  /** The token to send now. */
  current(now = Date.now()): string | undefined {
    return this.#session !== undefined && this.#session.expiresAt > now ? this.#session.token : this.#given;
  }

  /** The token the sidecar was started with. */
  get given(): string | undefined {
    return this.#given;
  }

  /** When the session in use expires (undefined: none yet). */
  get sessionExpiresAt(): number | undefined {
    return this.#session?.expiresAt;
  }

  adopt(session: SessionGrant): void {
    const expiresAt = Date.parse(session.expiresAt);
    if (this.#session === undefined || expiresAt >= this.#session.expiresAt) this.#session = { token: session.token, expiresAt };
  }
}
