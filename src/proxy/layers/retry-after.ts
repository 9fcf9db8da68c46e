/**
 * Reading an upstream's Retry-After (RFC 9110 §10.2.3): delay-seconds ("120") or an
 * HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT").
 */

/** An HTTP-date in any of its three forms has a clock time and a month or day name. */
const HTTP_DATE = /^[A-Za-z]{3}.*\d{1,2}:\d{2}:\d{2}/;

/**
 * The wait Retry-After asks for, in ms from `nowEpochMs` (a date in the past is 0);
 * undefined when the header is absent or unreadable (then it is ignored).
 */
export function parseRetryAfter(value: string | readonly string[] | undefined, nowEpochMs: number): number | undefined {
  const text = (typeof value === 'string' ? value : value?.[0])?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!HTTP_DATE.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowEpochMs);
}
