/**
 * The one shape of the control plane's scoped tokens, and how they are kept:
 *
 *     trellis-<kind>.<id>.<secret>    kind: join | read | session; id: 16 hex digits (names the
 *                                     record); secret: 32 random bytes, base64url
 *
 * The store keeps only the SHA-256 of the secret; a token is checked in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type TokenKind = 'join' | 'read' | 'session';

const TOKEN_SHAPE = /^trellis-(join|read|session)\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

export interface ParsedToken {
  readonly kind: TokenKind;
  readonly id: string;
  readonly secret: string;
}

export interface NewSecret extends ParsedToken {
  /** The token to hand out, once. */
  readonly token: string;
  /** SHA-256 of the secret, hex: what the store keeps. */
  readonly hash: string;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function newSecret(kind: TokenKind): NewSecret {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { kind, id, secret, token: `trellis-${kind}.${id}.${secret}`, hash: hashSecret(secret) };
}

/** The parts of a well-formed token, or undefined. */
export function parseToken(token: string): ParsedToken | undefined {
  const match = TOKEN_SHAPE.exec(token);
  if (match === null) return undefined;
  const [, kind, id, secret] = match as unknown as [TokenKind, TokenKind, string, string];
  return { kind, id, secret };
}

/** Whether `secret` hashes to `hashHex` (constant time). */
export function secretMatches(secret: string, hashHex: string): boolean {
  const stored = Buffer.from(hashHex, 'hex');
  const given = Buffer.from(hashSecret(secret), 'hex');
  return stored.length === given.length && timingSafeEqual(given, stored);
}
