/**
 * Small helpers on an {@link Outcome} shared by the layers: which endpoint it came from,
 * how to let go of one that will not be forwarded, and how to keep a small one aside.
 */
import { Readable } from 'node:stream';
import type { Endpoint } from '../../balancer/types.js';
import type { Outcome } from '../types.js';

/** Bodies up to this size are drained or kept in memory; larger ones are destroyed. */
export const SMALL_BODY_BYTES = 64 * 1024;

/** The endpoint the attempt went to, when one was picked. */
export function endpointOf(outcome: Outcome): Endpoint | undefined {
  return outcome.ok ? outcome.response.endpoint : outcome.failure.endpoint;
}

function declaredLength(outcome: Outcome & { ok: true }): number | undefined {
  const length = Number(outcome.response.headers['content-length']);
  return Number.isInteger(length) && length >= 0 ? length : undefined;
}

/**
 * Dispose of an outcome that is not forwarded. A small body with a known length is
 * drained so that its connection can carry the next request; anything else is destroyed.
 */
export function discardOutcome(outcome: Outcome): void {
  if (!outcome.ok) return;
  const { body } = outcome.response;
  if (body === null || body.destroyed) return;
  body.on('error', ignore);
  const length = declaredLength(outcome);
  if (length !== undefined && length <= SMALL_BODY_BYTES) body.resume();
  else body.destroy();
}

/**
 * Read a small response body into memory, so that the outcome can still be answered
 * later while its connection (and any slot held until the body ends) is released now.
 * Undefined, with the body destroyed, when it is larger than {@link SMALL_BODY_BYTES}
 * or fails while being read. Failures and bodiless responses come back as they are.
 */
export async function keepAside(outcome: Outcome): Promise<Outcome | undefined> {
  if (!outcome.ok || outcome.response.body === null) return outcome;
  const { body } = outcome.response;
  const length = declaredLength(outcome);
  if (length !== undefined && length > SMALL_BODY_BYTES) {
    discardOutcome(outcome);
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      size += bytes.length;
      if (size > SMALL_BODY_BYTES) return undefined; // leaving the loop destroys the body
      chunks.push(bytes);
    }
  } catch {
    return undefined;
  }
  return { ...outcome, response: { ...outcome.response, body: Readable.from(chunks, { objectMode: false }) } };
}

function ignore(): void {}
