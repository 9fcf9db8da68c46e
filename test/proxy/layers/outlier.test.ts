import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, TrellisError } from '../../../src/errors.js';
import {
  createOutlierLayer,
  maxEjected,
  OUTLIER_COUNTERS,
  OutlierDetectors,
  type OutlierEvent,
  type OutlierResult,
} from '../../../src/proxy/layers/outlier.js';
import { Counters } from '../../../src/proxy/layers/stats.js';
import { DEFAULT_UPSTREAM_POLICY } from '../../../src/proxy/policy.js';
import { endpoint, failure, request, response, target } from './fixtures.js';

const SECOND = 1000;

function lastEjection(events: readonly OutlierEvent[]): OutlierEvent | undefined {
  return [...events].reverse().find((e) => e.kind === 'ejected');
}

function setup(settings: Partial<typeof DEFAULT_UPSTREAM_POLICY.outlierDetection> = {}, ids = ['a', 'b', 'c', 'd']) {
  let now = 0;
  const events: OutlierEvent[] = [];
  const stats = new Counters(OUTLIER_COUNTERS);
  const detectors = new OutlierDetectors({
    now: () => now,
    onEvent: (e) => events.push(e),
    stats,
    defaults: { ...DEFAULT_UPSTREAM_POLICY.outlierDetection, ...settings },
  });
  const detector = detectors.for('payments');
  detector.setEndpoints(ids);
  return {
    detectors,
    detector,
    events,
    stats,
    advance: (ms: number) => { now += ms; },
    repeat: (id: string, result: OutlierResult, times: number) => { for (let i = 0; i < times; i++) detector.record(id, result); },
    ejected: () => [...detector.ejected()].sort(),
  };
}

describe('outlier detection', () => {
  it('ejects an endpoint after 5 consecutive 5xx, and a success resets the count', () => {
    const o = setup();
    o.repeat('a', 'http-5xx', 4);
    o.detector.record('a', 'success');
    o.repeat('a', 'http-5xx', 4);
    assert.deepEqual(o.ejected(), []);
    o.detector.record('a', 'http-5xx');
    assert.deepEqual(o.ejected(), ['a']);
    assert.deepEqual(o.events.at(-1), { service: 'payments', endpointId: 'a', kind: 'ejected', reason: '5 consecutive 5xx or gateway failures', durationMs: 30_000 });
  });

  it('ejects after only 2 consecutive connect failures: a killed replica leaves rotation fast', () => {
    const o = setup();
    o.detector.record('b', 'connect-failure');
    assert.deepEqual(o.ejected(), []);
    o.detector.record('b', 'connect-failure');
    assert.deepEqual(o.ejected(), ['b']);
    assert.match(o.events.at(-1)?.reason ?? '', /2 consecutive connect failures/);
  });

  it('counts connect failures and resets toward the 5xx streak; a 5xx (it connected) ends the connect streak', () => {
    const o = setup({ consecutiveConnectFailures: 3 });
    o.detector.record('a', 'connect-failure');
    o.detector.record('a', 'http-5xx');
    o.detector.record('a', 'connect-failure');
    o.detector.record('a', 'connect-failure');
    assert.deepEqual(o.ejected(), [], 'the connect streak restarted after the 5xx');
    o.detector.record('a', 'reset');
    assert.deepEqual(o.ejected(), ['a'], 'five gateway failures in a row');
  });

  it('returns an endpoint when its ejection ends (read lazily, no timers)', () => {
    const o = setup();
    o.repeat('a', 'connect-failure', 2);
    o.advance(30 * SECOND - 1);
    assert.deepEqual(o.ejected(), ['a']);
    o.advance(1);
    assert.deepEqual(o.ejected(), []);
    assert.equal(o.events.at(-1)?.kind, 'returned');
  });

  it('ejects for longer each time (base × count, capped at maxEjection), and forgives an endpoint that stays healthy', () => {
    const o = setup({ baseEjectionMs: 30 * SECOND, maxEjectionMs: 100 * SECOND });
    const durations: number[] = [];
    for (let i = 0; i < 5; i++) {
      o.repeat('a', 'connect-failure', 2);
      const event = lastEjection(o.events);
      durations.push(event?.durationMs ?? -1);
      o.advance(event?.durationMs ?? 0);
      assert.deepEqual(o.ejected(), []);
    }
    assert.deepEqual(durations, [30, 60, 90, 100, 100].map((s) => s * SECOND));
    assert.equal(o.detector.ejectionCount('a'), 5);
    // 3 × 30 s back in rotation without an ejection: the count drops from 5 to 2, so the next is the 3rd.
    o.advance(90 * SECOND);
    o.repeat('a', 'connect-failure', 2);
    assert.equal(lastEjection(o.events)?.durationMs, 90 * SECOND);
  });

  it('never ejects more than maxEjectionPercent of the endpoints', () => {
    const o = setup({ maxEjectionPercent: 50 });
    for (const id of ['a', 'b', 'c']) o.repeat(id, 'connect-failure', 2);
    assert.deepEqual(o.ejected(), ['a', 'b']);
    assert.equal(o.stats.get('payments', 'overflow'), 1);
    assert.equal(o.stats.get('payments', 'ejections'), 2);
    assert.deepEqual(o.events.at(-1), { service: 'payments', endpointId: 'c', kind: 'overflow', reason: '2 consecutive connect failures' });
    // Once one returns, another may go.
    o.advance(30 * SECOND);
    o.repeat('c', 'connect-failure', 2);
    assert.deepEqual(o.ejected(), ['c']);
  });

  it('never ejects the last endpoint standing, whatever the percentage', () => {
    assert.deepEqual([1, 2, 3, 4, 10].map((n) => maxEjected(n, 50)), [0, 1, 1, 2, 5]);
    assert.deepEqual([1, 2, 3, 10].map((n) => maxEjected(n, 100)), [0, 1, 2, 9]);
    assert.deepEqual([2, 3, 10].map((n) => maxEjected(n, 10)), [1, 1, 1], 'at least one when the share rounds down to none');
    assert.equal(maxEjected(10, 0), 0, '0% turns ejection off');

    const single = setup({}, ['only']);
    single.repeat('only', 'connect-failure', 10);
    assert.deepEqual(single.ejected(), []);

    const all = setup({ maxEjectionPercent: 100 }, ['a', 'b', 'c']);
    for (const id of ['a', 'b', 'c']) all.repeat(id, 'connect-failure', 2);
    assert.deepEqual(all.ejected(), ['a', 'b']);
  });

  it('returns ejected endpoints early when the set shrinks below what the share allows', () => {
    const o = setup({ maxEjectionPercent: 50 });
    o.repeat('a', 'connect-failure', 2);
    o.advance(SECOND);
    o.repeat('b', 'connect-failure', 2);
    assert.deepEqual(o.ejected(), ['a', 'b']);
    o.detector.setEndpoints(['a', 'b', 'c']);
    assert.deepEqual(o.ejected(), ['b'], 'a was due back first');
    o.detector.setEndpoints(['b']);
    assert.deepEqual(o.ejected(), [], 'never all of them');
  });

  it('forgets endpoints that left, and ignores results for unknown ones', () => {
    const o = setup();
    o.repeat('a', 'http-5xx', 4);
    o.repeat('b', 'connect-failure', 2);
    o.detector.setEndpoints(['a', 'c', 'd', 'e']);
    assert.deepEqual(o.ejected(), []);
    o.repeat('b', 'connect-failure', 5);
    assert.deepEqual(o.ejected(), []);
    o.detector.setEndpoints(['a', 'b', 'c', 'd', 'e']);
    o.detector.record('b', 'connect-failure');
    assert.deepEqual(o.ejected(), [], 'b came back with a clean slate');
    assert.equal(o.detector.ejectionCount('b'), 0);
    o.detector.record('a', 'http-5xx');
    assert.deepEqual(o.ejected(), ['a'], "a's streak survived the update");
  });

  it('ignores results that arrive while an endpoint is ejected', () => {
    const o = setup();
    o.repeat('a', 'connect-failure', 2);
    o.repeat('a', 'http-5xx', 20);
    o.advance(30 * SECOND);
    assert.deepEqual(o.ejected(), []);
    o.repeat('a', 'http-5xx', 4);
    assert.deepEqual(o.ejected(), [], 'the streak restarted at the ejection');
  });

  it('turns a rule off with a threshold of 0', () => {
    const o = setup({ consecutive5xx: 0, consecutiveConnectFailures: 0 });
    o.repeat('a', 'http-5xx', 50);
    o.repeat('b', 'connect-failure', 50);
    assert.deepEqual(o.ejected(), []);
  });
});

describe('outlier detection: no response progress', () => {
  /** `id` gets `n` attempts that stay in flight. */
  const hang = (o: ReturnType<typeof setup>, id: string, n = 1): void => { for (let i = 0; i < n; i++) o.detector.started(id); };
  /** One attempt to `id` that settles at once, a success after `ms`. */
  const answer = (o: ReturnType<typeof setup>, id: string, ms = 5): void => { o.detector.started(id); o.detector.settled(id, ms, true); };

  it('ejects an endpoint that settled nothing for 1 s while the others answered, before any timeout', () => {
    const o = setup({}, ['a', 'b', 'c']);
    hang(o, 'b', 3);
    o.advance(900);
    answer(o, 'a');
    assert.deepEqual(o.ejected(), [], 'not yet: 900 ms');
    o.advance(100);
    answer(o, 'c');
    assert.deepEqual(o.ejected(), ['b']);
    assert.match(lastEjection(o.events)?.reason ?? '', /^no response for 1000 ms with 3 requests in flight, while other instances answered$/);
    assert.equal(o.detector.inFlight('b'), 3);
  });

  it('ends the attempts in flight on it that can be ended (under a per-try deadline) with UPSTREAM_TIMEOUT, after the check', async () => {
    const o = setup({}, ['a', 'b', 'c']);
    const reasons: unknown[] = [];
    const attempt = { abort: (reason: unknown) => { reasons.push(reason); } };
    const settledEarly = { abort: (reason: unknown) => { reasons.push(reason); } };
    o.detector.started('b', attempt);
    o.detector.started('b', settledEarly);
    o.detector.started('b');
    o.detector.settled('b', 10, true, settledEarly);
    hang(o, 'b');
    o.advance(SECOND);
    answer(o, 'a');
    assert.deepEqual(o.ejected(), ['b']);
    assert.equal(reasons.length, 0, 'not inside the check');
    await Promise.resolve();
    assert.equal(reasons.length, 1, 'the one still in flight, once');
    const reason = reasons[0];
    assert.ok(reason instanceof TrellisError);
    assert.equal(reason.code, ErrorCodes.UPSTREAM_TIMEOUT);
    assert.match(reason.message, /payments instance b was ejected for making no progress/);
  });

  it('does not eject when every endpoint is silent (a slow service, or the caller cut off), nor an idle one', () => {
    const o = setup({}, ['a', 'b', 'c']);
    hang(o, 'a');
    hang(o, 'b');
    o.advance(5 * SECOND);
    assert.deepEqual(o.ejected(), [], 'nobody answered: nobody is an outlier');
    o.detector.settled('a', 5 * SECOND, true);
    o.detector.settled('b', 5 * SECOND, true);
    o.advance(5 * SECOND);
    answer(o, 'c');
    assert.deepEqual(o.ejected(), [], 'nothing in flight: nothing to wait for');
  });

  it('any settled attempt is progress: an endpoint answering slowly but steadily stays', () => {
    const o = setup({}, ['a', 'b', 'c']);
    for (let i = 0; i < 20; i++) {
      hang(o, 'b', 2);
      o.advance(600);
      answer(o, 'a');
      o.detector.settled('b', 600, true);
      o.detector.settled('b', 600, true);
      assert.deepEqual(o.ejected(), []);
    }
  });

  it("waits 4 × an endpoint's usual latency when that is longer than the timeout (a slow-by-design service)", () => {
    const o = setup({}, ['a', 'b', 'c']);
    for (let i = 0; i < 5; i++) answer(o, 'b', 2_000);
    hang(o, 'b');
    o.advance(7_900);
    answer(o, 'a');
    assert.deepEqual(o.ejected(), []);
    o.advance(100);
    answer(o, 'a');
    assert.deepEqual(o.ejected(), ['b']);
  });

  it('returns the endpoint like any ejection, with a fresh window; 0 turns the rule off', () => {
    const o = setup({}, ['a', 'b', 'c']);
    hang(o, 'b');
    o.advance(SECOND);
    answer(o, 'a');
    assert.deepEqual(o.ejected(), ['b']);
    o.advance(30 * SECOND);
    answer(o, 'a');
    assert.deepEqual(o.ejected(), [], 'back after baseEjection');
    o.advance(500);
    answer(o, 'a');
    assert.deepEqual(o.ejected(), [], 'its window starts at its return');

    const off = setup({ noProgressTimeoutMs: 0 }, ['a', 'b', 'c']);
    hang(off, 'b');
    off.advance(60 * SECOND);
    answer(off, 'a');
    assert.deepEqual(off.ejected(), []);
  });

  it('respects maxEjectionPercent: an overflow is reported once per window, not at every check', () => {
    const o = setup({}, ['a', 'b', 'c']);
    hang(o, 'b');
    hang(o, 'c');
    o.advance(SECOND);
    answer(o, 'a');
    assert.equal(o.ejected().length, 1, 'one of 3 at most (50%)');
    for (let i = 0; i < 10; i++) {
      o.advance(60);
      answer(o, 'a');
      o.ejected();
    }
    assert.equal(o.events.filter((e) => e.kind === 'overflow').length, 1);
  });
});

describe('outlier layer', () => {
  it("records each attempt's verdict against the endpoint it went to", async () => {
    const o = setup();
    const answers = [
      response(503, endpoint('a')),
      response(500, endpoint('a')),
      failure(ErrorCodes.UPSTREAM_RESET, endpoint('a'), true),
      failure(ErrorCodes.UPSTREAM_TIMEOUT, endpoint('a'), true),
      response(404, endpoint('b')),
      failure(ErrorCodes.NO_HEALTHY_ENDPOINT, undefined, false),
      response(502, endpoint('a')),
    ];
    let i = 0;
    const handler = createOutlierLayer(o.detectors)(async () => answers[i++] ?? response(200, endpoint('c')));
    const req = request({ target: target({ outlierDetection: { consecutive5xx: 5 } }) });
    for (let n = 0; n < answers.length; n++) {
      assert.deepEqual(o.ejected(), []);
      await handler(req);
    }
    assert.deepEqual(o.ejected(), ['a'], '503, 500, reset, timeout, 502 in a row: a 4xx elsewhere does not break a’s streak');
  });

  it('ejects on connect failures reported by the upstream (the local app too)', async () => {
    const o = setup();
    const handler = createOutlierLayer(o.detectors)(async () => failure(ErrorCodes.APP_UNAVAILABLE, endpoint('d'), false));
    await handler(request());
    await handler(request());
    assert.deepEqual(o.ejected(), ['d']);
  });

  it('does not blame the endpoint for failures of the proxy’s own making', async () => {
    const o = setup();
    const handler = createOutlierLayer(o.detectors)(async () => failure(ErrorCodes.BODY_TOO_LARGE, endpoint('a'), true));
    for (let i = 0; i < 10; i++) await handler(request());
    assert.deepEqual(o.ejected(), []);
  });

  it('does not blame the endpoint for an attempt cut short because the client went away', async () => {
    const o = setup();
    const client = new AbortController();
    client.abort();
    const handler = createOutlierLayer(o.detectors)(async () => failure(ErrorCodes.UPSTREAM_RESET, endpoint('a'), true));
    for (let i = 0; i < 10; i++) await handler(request({ signal: client.signal }));
    assert.deepEqual(o.ejected(), []);
  });

  it('counts a deadline that cut the attempt short', async () => {
    const o = setup();
    const deadline = new AbortController();
    deadline.abort(new TrellisError(ErrorCodes.UPSTREAM_TIMEOUT, 'timeout'));
    const handler = createOutlierLayer(o.detectors)(async (req) => ({
      ok: false, failure: { error: req.signal.reason as TrellisError, reachedApp: true, endpoint: endpoint('a') },
    }));
    for (let i = 0; i < 5; i++) await handler(request({ signal: deadline.signal }));
    assert.deepEqual(o.ejected(), ['a']);
  });

  it("applies the target's settings to the service's detector", async () => {
    const o = setup();
    const handler = createOutlierLayer(o.detectors)(async () => response(503, endpoint('a')));
    await handler(request({ target: target({ outlierDetection: { consecutive5xx: 1 } }) }));
    assert.deepEqual(o.ejected(), ['a']);
  });
});
