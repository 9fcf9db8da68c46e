/**
 * Durations as users write them: a number of milliseconds (a JSON number, or digits in a
 * string), or numbers with a unit and no space — ms, s, m, h, d — alone or in a row as Go and
 * Envoy/Istio write them ("250ms", "10s", "1.5s", "1m30s", "24h"). Nothing else: "10 s",
 * "10 seconds", "-1s" or "1y" are refused rather than guessed at.
 */

/** Named in every message about a duration that could not be read. */
export const DURATION_FORMS = 'a number with a unit and no space — ms, s, m, h or d (e.g. "250ms", "10s", "1.5s", "1m30s") — or a number of milliseconds';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/**
 * Parse a duration given as milliseconds (a number) or a string in one of
 * {@link DURATION_FORMS}. Returns undefined when it cannot be read; callers turn that into an
 * error naming their own field.
 */
export function parseDuration(input: unknown): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) ? input : undefined;
  if (typeof input !== 'string') return undefined;
  // A bare number in a string is taken as milliseconds, like a JSON number.
  if (/^\d+(\.\d+)?$/.test(input)) return Number(input);
  if (!WHOLE.test(input)) return undefined;
  let total = 0;
  for (const [, amount, unit] of input.matchAll(PART)) total += Number(amount) * (UNIT_MS[unit ?? ''] ?? Number.NaN);
  return Number.isFinite(total) ? total : undefined;
}

/** "1.5s", "250ms", "2m" — for messages and tables. */
export function formatDuration(milliseconds: number): string {
  if (milliseconds < 1000) return `${Math.round(milliseconds)}ms`;
  if (milliseconds < 60_000) return `${+(milliseconds / 1000).toFixed(1)}s`;
  if (milliseconds < 3_600_000) return `${+(milliseconds / 60_000).toFixed(1)}m`;
  return `${+(milliseconds / 3_600_000).toFixed(1)}h`;
}
