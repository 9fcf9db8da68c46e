/**
 * Request ids (`x-request-id`) without a UUID from the CSPRNG per request: a random
 * 80-bit prefix drawn once per process, then a counter — unique within the process, and
 * across processes as long as their prefixes differ (2^-80 per pair). Shaped like a UUID
 * (8-4-4-4-12 hex), so that logs and tools that expect one still read it.
 */
import { randomBytes } from 'node:crypto';

const prefix = ((): string => {
  const hex = randomBytes(10).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(12, 15)}-${hex.slice(15, 19)}-${hex.slice(19, 20)}`;
})();

/** Counter for the last 11 hex digits (2^44 ids before it wraps: centuries at a million a second). */
let counter = 0;
const PAD = '00000000000';

export function requestId(): string {
  counter = (counter + 1) % 0x100000000000;
  const digits = counter.toString(16);
  return prefix + PAD.slice(digits.length) + digits;
}
