/**
 * A route's mirror (filter RequestMirror): for `percent` % of the requests a copy goes to the
 * mirror's service (or subset) through the rest of the pipeline, after the original was
 * started; its answer is read and discarded, and its failures are counted, never seen by
 * the caller. The original never waits for the copy. Only a request whose body is wholly
 * here (or that has none) is copied — a streamed body is not held back for a mirror — and
 * at most MAX_IN_FLIGHT copies are outstanding, so a slow mirror cannot pile up memory.
 */
import { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { Cancellation } from '../cancel.js';
import type { Handler, Layer, ProxyRequest, RequestBody } from '../types.js';
import { discardOutcome } from './outcome.js';

const MAX_IN_FLIGHT = 256;

export interface MirrorCounters {
  sent: number;
  failed: number;
  /** Not copied: a streamed body, or too many copies outstanding. */
  skipped: number;
}

function hasNoBody(request: ProxyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
}

function copyBody(request: ProxyRequest): RequestBody | undefined {
  const chunks = request.body.whole?.();
  if (chunks === undefined) {
    return hasNoBody(request) ? { open: () => null, replayable: true, whole: () => [] } : undefined;
  }
  const kept = [...chunks];
  return { open: () => (kept.length === 0 ? null : Readable.from(kept, { objectMode: false })), replayable: true, whole: () => kept };
}

export function createMirrorLayer(counters: MirrorCounters = { sent: 0, failed: 0, skipped: 0 }, random: () => number = Math.random): Layer {
  let inFlight = 0;
  return (next: Handler) => (request) => {
    const mirror = request.route?.rule.mirror;
    if (mirror === undefined || random() * 100 >= mirror.percent) return next(request);
    // An upgrade (WebSocket) is a connection, not a request to copy.
    const body = inFlight < MAX_IN_FLIGHT && request.headers['upgrade'] === undefined ? copyBody(request) : undefined;
    const original = next(request);
    if (body === undefined) {
      counters.skipped += 1;
      return original;
    }
    inFlight += 1;
    setImmediate(() => {
      const { route: _route, ...rest } = request;
      const copy: ProxyRequest = {
        ...rest,
        headers: { ...request.headers, 'x-trellis-mirror': '1' },
        body,
        target: mirror.target,
        signal: new Cancellation(),
        startedAt: performance.now(),
        tried: new Set(),
      };
      counters.sent += 1;
      next(copy).then((outcome) => {
        if (!outcome.ok || outcome.response.status >= 500) counters.failed += 1;
        discardOutcome(outcome);
      }, () => { counters.failed += 1; }).finally(() => { inFlight -= 1; });
    });
    return original;
  };
}
