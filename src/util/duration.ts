import ms from 'ms';

/**
 * Parse a duration given as milliseconds (a number) or a string with a unit
 * ("500ms", "10s", "2m", "1h"). Returns undefined when it cannot be read;
 * callers turn that into an error naming their own field.
 */
export function parseDuration(input: unknown): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) ? input : undefined;
  if (typeof input !== 'string' || input.trim() === '') return undefined;
  const trimmed = input.trim();
  // A bare number in a string is taken as milliseconds, like a JSON number.
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const value = ms(trimmed as ms.StringValue) as number | undefined;
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** "1.5s", "250ms", "2m" — for messages and tables. */
export function formatDuration(milliseconds: number): string {
  if (milliseconds < 1000) return `${Math.round(milliseconds)}ms`;
  if (milliseconds < 60_000) return `${+(milliseconds / 1000).toFixed(1)}s`;
  if (milliseconds < 3_600_000) return `${+(milliseconds / 60_000).toFixed(1)}m`;
  return `${+(milliseconds / 3_600_000).toFixed(1)}h`;
}
