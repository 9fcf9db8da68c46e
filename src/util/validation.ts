/**
 * Shared schema pieces (zod) and the one conversion from a zod failure to
 * TrellisError VALIDATION naming the field — used by the registry API and config parsers.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';
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
  const hint = `${name} must be a duration such as "10s" or "250ms", or a number of milliseconds`;
  return z.union([z.number(), z.string()], { invalid_type_error: hint }).transform((raw, ctx) => {
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
