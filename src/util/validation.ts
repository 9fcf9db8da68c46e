/**
 * Shared schema pieces (zod) and the one conversion from a zod failure to
 * TrellisError VALIDATION naming the field — used by the registry API and config parsers.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { DURATION_FORMS, parseDuration } from './duration.js';
import { parseHostPort, type HostPort } from './host-port.js';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';

/** Dotted path from parts, skipping empty ones. */
export function joinPath(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('.');
}

const defaultUnknownField = (key: string): string =>
  `unknown field ${JSON.stringify(key)}: remove it (a typo is never silently ignored)`;

/**
 * Turn a zod failure into TrellisError VALIDATION naming the first wrong field
 * (under `field`). Unknown keys get `unknownField(key)` as their message.
 */
export function validationError(error: z.ZodError, field = '', unknownField: (key: string) => string = defaultUnknownField): TrellisError {
  const issue = error.issues[0];
  const at = joinPath(field, ...(issue?.path ?? []).map(String));
  if (issue?.code === z.ZodIssueCode.unrecognized_keys) {
    const key = issue.keys[0] ?? '';
    return new TrellisError(ErrorCodes.VALIDATION, unknownField(key), { field: joinPath(at, key) });
  }
  return new TrellisError(ErrorCodes.VALIDATION, issue?.message ?? 'invalid value', at === '' ? {} : { field: at });
}

/** Parse with a schema or throw TrellisError VALIDATION naming the field. */
export function parseOrThrow<S extends z.ZodTypeAny>(schema: S, input: unknown, field = '', unknownField?: (key: string) => string): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationError(result.error, field, unknownField);
  return result.data as z.output<S>;
}

/**
 * A field holding a duration, written as milliseconds or a string with a unit
 * ("10s", "250ms"); the parsed value is whole milliseconds within [minMs, maxMs].
 */
export function durationField(name: string, minMs: number, maxMs: number) {
  const hint = `${name} must be a duration: ${DURATION_FORMS}`;
  // Not z.union([number, string]): a union builds an issue for each branch that does not match,
  // which every string duration ("10s") paid for on the registration path.
  return z.custom<number | string>((raw) => typeof raw === 'number' || typeof raw === 'string', { message: hint }).transform((raw, ctx) => {
    const ms = parseDuration(raw);
    if (ms === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${hint} (got ${JSON.stringify(raw)})` });
      return z.NEVER;
    }
    if (ms < minMs || ms > maxMs) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${name} must be between ${minMs} ms and ${maxMs} ms (got ${ms} ms)` });
      return z.NEVER;
    }
    return Math.round(ms);
  });
}

/** A field holding a whole number in [min, max]. */
export function integerField(name: string, min: number, max: number) {
  const range = `${name} must be a whole number between ${min} and ${max}`;
  return z.number({ required_error: `${name} is required`, invalid_type_error: `${name} must be a number` }).int(range).min(min, range).max(max, range);
}

/** A field holding "HOST:PORT" ("127.0.0.1:7700", "[::1]:0"), parsed to { host, port }. */
export function hostPortField(name: string) {
  return z.string({ invalid_type_error: `${name} must be HOST:PORT such as 127.0.0.1:7700` })
    .transform((raw, ctx): HostPort => {
      try {
        return parseHostPort(raw, name);
      } catch (err) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: messageOf(err) });
        return z.NEVER;
      }
    });
}

const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
/** A top-level label of digits only: no hostname has one (RFC 3696 §2), so it was meant as an IPv4 address. */
const NUMERIC_LAST_LABEL = /(^|\.)\d+$/;

/**
 * Why `value` is not an address an instance can listen on — an IPv4 address (exactly four
 * numbers 0–255), an IPv6 address, or a hostname — or undefined when it is one. `1.2.3`,
 * `256.1.1.1` and `1.2.3.4.5` are refused: they look like IPv4 and are not.
 */
export function addressProblem(value: string): string | undefined {
  if (isIP(value) !== 0) return undefined;
  const got = `(got ${JSON.stringify(value).slice(0, 80)})`;
  if (HOSTNAME.test(value) && NUMERIC_LAST_LABEL.test(value)) {
    return `is not a valid IPv4 address: write four numbers from 0 to 255 such as 10.0.0.5, an IPv6 address such as fd00::5, or a hostname ${got}`;
  }
  if (HOSTNAME.test(value)) return undefined;
  return `must be an IPv4 or IPv6 address or a hostname, such as 10.0.0.5, fd00::5 or api.example.com ${got}`;
}

/** A field holding an IP address or a hostname (see {@link addressProblem}). */
export function addressField(name: string, requiredHint: string) {
  return z.string({ required_error: `${name} is required: ${requiredHint}`, invalid_type_error: `${name} must be a string` })
    .superRefine((value, ctx) => {
      const problem = addressProblem(value);
      if (problem !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${name} ${problem}` });
    });
}

/** A lone UTF-16 surrogate (a paired one is part of a code point and does not match). */
const LONE_SURROGATE = /\p{Cs}/u;
const REPLACEMENT = '\uFFFD';

/**
 * Throw TrellisError VALIDATION naming the first string (key or value) of a parsed JSON
 * document that is not well-formed Unicode: a lone surrogate (`"\ud800"`), or — when the raw
 * bytes were not valid UTF-8 (`invalidUtf8`) — the string the decoder had to patch with U+FFFD.
 */
export function assertWellFormedStrings(value: unknown, invalidUtf8: boolean, path = ''): void {
  const bad = (s: string): boolean => LONE_SURROGATE.test(s) || (invalidUtf8 && s.includes(REPLACEMENT));
  const fail = (at: string, what: string): never => {
    throw new TrellisError(ErrorCodes.VALIDATION,
      `${at === '' ? 'the request body' : at} ${what}: send text as UTF-8, with no invalid byte sequences or lone surrogates (\\ud800–\\udfff escapes must come in pairs)`,
      at === '' ? {} : { field: at });
  };
  if (typeof value === 'string') {
    if (bad(value)) fail(path, invalidUtf8 && value.includes(REPLACEMENT) ? 'is not valid UTF-8' : 'holds a lone surrogate');
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => assertWellFormedStrings(item, invalidUtf8, joinPath(path, String(i))));
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (bad(key)) fail(joinPath(path, key), 'is a key that is not valid UTF-8 text');
    assertWellFormedStrings(item, invalidUtf8, joinPath(path, key));
  }
  if (invalidUtf8 && path === '') fail('', 'is not valid UTF-8');
}
