/**
 * JWT authentication at the gateway, with jose: the token from `Authorization: Bearer …`,
 * its signature checked against a JWKS (a file, or an http(s) URL that jose fetches, caches
 * and refetches for an unknown `kid`), only asymmetric algorithms (`alg: none` and HMAC are
 * refused whatever the key set), issuer, audience, `exp` and `nbf` with the clock skew
 * allowed. A refusal is a value with the reason a client can act on, and what goes in
 * WWW-Authenticate (RFC 6750 §3).
 */
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import type { JwtConfig } from './config.js';

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export type JwtVerdict =
  | { readonly ok: true; readonly claims: JWTPayload }
  | { readonly ok: false; readonly reason: string; readonly error: 'invalid_request' | 'invalid_token' };

/** Why jose refused a token, in words a client can act on. */
function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return `the token expired (exp ${String(err.payload.exp)}, beyond the allowed clock skew)`;
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'the token is not valid yet (nbf is in the future, beyond the allowed clock skew)';
    if (err.claim === 'aud') return 'the token is not for this audience (aud)';
    if (err.claim === 'iss') return 'the token is from another issuer (iss)';
    return `the token's ${err.claim} claim is not accepted: ${err.reason}`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the token\'s algorithm is not accepted (alg none and HMAC never are)';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the token\'s signature does not verify with the gateway\'s keys';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no key of the gateway\'s key set matches the token (kid / alg)';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return `the token is malformed: ${err.message}`;
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return `the key set could not be read: ${err.message}`;
  return `the token is not accepted: ${messageOf(err)}`;
}

export class JwtAuthenticator {
  readonly #config: JwtConfig;
  readonly #keys: JWTVerifyGetKey;

  private constructor(config: JwtConfig, keys: JWTVerifyGetKey) {
    this.#config = config;
    this.#keys = keys;
  }

  /** Read the key set (a file is read now: a bad one fails the start, naming it). */
  static async open(config: JwtConfig): Promise<JwtAuthenticator> {
    if ('url' in config.jwks) return new JwtAuthenticator(config, createRemoteJWKSet(new URL(config.jwks.url), { cooldownDuration: 30_000, cacheMaxAge: 600_000 }));
    const file = config.jwks.file;
    let set: JSONWebKeySet;
    try {
      set = JSON.parse(await readFile(file, 'utf8')) as JSONWebKeySet;
      if (!Array.isArray(set.keys)) throw new Error('no "keys" list');
    } catch (err) {
      throw new TrellisError(ErrorCodes.CONFIG, `cannot read the JWKS file ${file}: ${messageOf(err)} (a JSON {"keys":[…]} of public keys)`, { field: 'authentication.jwt.jwks.file', cause: err });
    }
    return new JwtAuthenticator(config, createLocalJWKSet(set));
  }

  get required(): boolean {
    return this.#config.required;
  }

  get claimsToHeaders(): Readonly<Record<string, string>> {
    return this.#config.claimsToHeaders;
  }

  /** The token of an Authorization header value; undefined when there is none. */
  static bearer(authorization: string | undefined): string | undefined {
    if (authorization === undefined) return undefined;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return match?.[1] ?? '';
  }

  async verify(token: string): Promise<JwtVerdict> {
    if (token === '') return { ok: false, reason: 'the Authorization header is not "Bearer TOKEN"', error: 'invalid_request' };
    try {
      const { payload } = await jwtVerify(token, this.#keys, {
        algorithms: this.#config.algorithms ?? ASYMMETRIC,
        clockTolerance: Math.round(this.#config.clockSkew / 1000),
        ...(this.#config.issuer === undefined ? {} : { issuer: this.#config.issuer }),
        ...(this.#config.audience === undefined ? {} : { audience: this.#config.audience }),
        requiredClaims: ['exp'],
      });
      return { ok: true, claims: payload };
    } catch (err) {
      return { ok: false, reason: reasonOf(err), error: 'invalid_token' };
    }
  }
}

/** A claim as a header value: strings as they are, other values as JSON. */
export function claimHeader(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  // Header values are one line of visible characters.
  return /^[\t\x20-\x7e]*$/.test(text) ? text : undefined;
}
