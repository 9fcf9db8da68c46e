/**
 * What every probe kind shares: the timeout/cancellation envelope, error descriptions,
 * output capping and address formatting. A probe kind only implements one attempt.
 */
import { isIPv6 } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { systemClock, type Clock } from '../../core/clock.js';
import type { HealthStatus } from '../../core/health.js';
import { MAX_OUTPUT_BYTES, type ActiveCheckSpec, type CheckTarget, type ProbeResult } from './types.js';

/** What one attempt found; {@link settleProbe} turns it into a {@link ProbeResult}. */
export interface ProbeOutcome {
  status: HealthStatus;
  /** Appended to the probe's description, e.g. `200 OK Output: ok` or `Success`. */
  detail: string;
}

/**
 * Runs one probe attempt with a deadline and never rejects.
 *
 * `attempt` gets a signal that aborts when `timeoutMs` elapses or `signal` aborts, and
 * must settle promptly once it does. Whatever it throws becomes a `critical` result.
 * An attempt that only finishes after the deadline is critical too.
 *
 * @param what Describes the probe and prefixes the output, e.g. `TCP connect 10.0.0.1:80`.
 * @param clock Times the deadline (the real clock unless a test controls time).
 */
export async function settleProbe(
  what: string,
  signal: AbortSignal,
  timeoutMs: number,
  attempt: (signal: AbortSignal) => Promise<ProbeOutcome>,
  clock: Clock = systemClock,
): Promise<ProbeResult> {
  const deadline = new AbortController();
  let timedOut = false;
  const timer = clock.setTimeout(() => {
    timedOut = true;
    deadline.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError'));
  }, timeoutMs);
  const cancel = (): void => deadline.abort(signal.reason);
  if (signal.aborted) cancel();
  else signal.addEventListener('abort', cancel, { once: true });

  const timedOutDetail = `timed out after ${timeoutMs} ms`;
  try {
    const outcome = await attempt(deadline.signal);
    if (timedOut) return probeResult('critical', what, timedOutDetail);
    return probeResult(outcome.status, what, outcome.detail);
  } catch (err) {
    const detail = timedOut ? timedOutDetail : signal.aborted ? 'cancelled' : describeError(err);
    return probeResult('critical', what, detail);
  } finally {
    timer.cancel();
    signal.removeEventListener('abort', cancel);
  }
}

function probeResult(status: HealthStatus, what: string, detail: string): ProbeResult {
  return { status, output: capOutput(`${what}: ${detail}`) };
}

/**
 * A one-line description of a thrown value that keeps the error code, e.g.
 * `connect ECONNREFUSED 127.0.0.1:8080` or `self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)`.
 */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = errorCode(err);
  let message = err.message;
  // Happy-eyeballs connects fail with an AggregateError whose own message may be empty.
  if (message === '' && err instanceof AggregateError) {
    message = err.errors.map(describeError).join('; ');
  }
  if (code === undefined || message.includes(code)) return message === '' ? err.name : message;
  return message === '' ? code : `${message} (${code})`;
}

function errorCode(err: Error): string | undefined {
  const code: unknown = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** The longest prefix of `bytes` that is at most `maxBytes` long and ends on a whole UTF-8 character. */
export function utf8Prefix(bytes: Uint8Array, maxBytes: number = MAX_OUTPUT_BYTES): string {
  const head = bytes.length > maxBytes ? bytes.subarray(0, maxBytes) : bytes;
  // A StringDecoder holds back an incomplete trailing character instead of emitting U+FFFD.
  return new StringDecoder('utf8').write(Buffer.from(head.buffer, head.byteOffset, head.byteLength));
}

/** `text` cut to at most {@link MAX_OUTPUT_BYTES} bytes of UTF-8. */
export function capOutput(text: string): string {
  return Buffer.byteLength(text) <= MAX_OUTPUT_BYTES ? text : utf8Prefix(Buffer.from(text));
}

/** `host:port`, with IPv6 addresses bracketed (`[::1]:8080`), as in URLs. */
export function formatHostPort(address: string, port: number): string {
  return isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The port a check probes: its own `port`, else the instance's. */
export function probePort(spec: ActiveCheckSpec, target: CheckTarget): number {
  return spec.port ?? target.port;
}
