import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { ErrorCodes, TrellisError } from '../../../src/errors.js';
import { ABORT_GRACE_MS } from '../../../src/proxy/layers/deadline.js';
import { createTimeoutLayer } from '../../../src/proxy/layers/timeout.js';
import type { Outcome, ProxyRequest } from '../../../src/proxy/types.js';
import { advance, endpoint, hangUntilAborted, mockTime, request, response, settled, target } from './fixtures.js';

const oneSecond = target({ timeout: '1s' });

describe('timeout layer', () => {
  it('aborts the in-flight attempt at the deadline and answers UPSTREAM_TIMEOUT', async (t) => {
    mockTime(t);
    let seen: ProxyRequest | undefined;
    const handler = createTimeoutLayer({ now: Date.now })((req) => {
      seen = req;
      return hangUntilAborted(req, endpoint('a'), true);
    });
    const pending = handler(request({ target: oneSecond }));
    await advance(t, 999, 111);
    assert.equal(await settled(pending), false);
    assert.equal(seen?.signal.aborted, false);
    await advance(t, 1);
    const outcome = await pending;
    assert.equal(seen?.signal.aborted, true, "the attempt's signal was aborted");
    assert.ok(!outcome.ok);
    assert.equal(outcome.failure.error.code, ErrorCodes.UPSTREAM_TIMEOUT);
    assert.equal(outcome.failure.error.status, 504);
    assert.match(outcome.failure.error.message, /payments did not answer within its timeout of 1s/);
    assert.deepEqual(outcome.failure.error.details, { scope: 'request', timeoutMs: 1000 });
    assert.equal(outcome.failure.reachedApp, true);
    assert.equal(outcome.failure.endpoint?.id, 'a');
  });

  it('says the attempt did not reach the app when it was aborted before it was sent', async (t) => {
    mockTime(t);
    const pending = createTimeoutLayer({ now: Date.now })((req) => hangUntilAborted(req, endpoint('a'), false))(request({ target: oneSecond }));
    await advance(t, 1000, 100);
    const outcome = await pending;
    assert.ok(!outcome.ok);
    assert.equal(outcome.failure.reachedApp, false);
  });

  it('passes an answer through and stops the timer, so a streaming body is not cut', async (t) => {
    mockTime(t);
    let seen: ProxyRequest | undefined;
    const handler = createTimeoutLayer({ now: Date.now })(async (req) => {
      seen = req;
      return response(200, endpoint('a'));
    });
    const outcome = await handler(request({ target: oneSecond }));
    assert.ok(outcome.ok);
    await advance(t, 5000, 500);
    assert.equal(seen?.signal.aborted, false);
  });

  it('counts the deadline from the request’s arrival', async (t) => {
    mockTime(t);
    const req = request({ target: oneSecond, startedAt: Date.now() - 900 });
    const pending = createTimeoutLayer({ now: Date.now })((r) => hangUntilAborted(r, endpoint('a')))(req);
    await advance(t, 99);
    assert.equal(await settled(pending), false);
    await advance(t, 1);
    assert.equal(await settled(pending), true);
  });

  it('answers at once, without sending, when the deadline already passed', async () => {
    let called = false;
    const outcome = await createTimeoutLayer({ now: () => 5000 })(async () => { called = true; return response(200, endpoint('a')); })(
      request({ target: oneSecond, startedAt: 1000 }));
    assert.equal(called, false);
    assert.ok(!outcome.ok);
    assert.equal(outcome.failure.error.code, ErrorCodes.UPSTREAM_TIMEOUT);
    assert.equal(outcome.failure.reachedApp, false);
  });

  it('passes the client going away on to the attempt', async () => {
    const client = new AbortController();
    let seen: ProxyRequest | undefined;
    const pending = createTimeoutLayer()((req) => {
      seen = req;
      return hangUntilAborted(req, endpoint('a'));
    })(request({ target: oneSecond, signal: client.signal, startedAt: performance.now() }));
    client.abort(new Error('client closed'));
    const outcome = await pending;
    assert.equal(seen?.signal.aborted, true);
    assert.ok(!outcome.ok);
    assert.equal(outcome.failure.error.code, ErrorCodes.UPSTREAM_RESET, "the attempt's own answer, not a timeout");
  });

  it('stops waiting for an attempt that ignores the abort, and discards its late answer', async (t) => {
    mockTime(t);
    let late: ((outcome: Outcome) => void) | undefined;
    const pending = createTimeoutLayer({ now: Date.now })(() => new Promise<Outcome>((resolve) => { late = resolve; }))(request({ target: oneSecond }));
    await advance(t, 1000, 100);
    assert.equal(await settled(pending), false, 'it gets a grace period to settle');
    await advance(t, ABORT_GRACE_MS, 100);
    const outcome = await pending;
    assert.ok(!outcome.ok);
    assert.equal(outcome.failure.error.code, ErrorCodes.UPSTREAM_TIMEOUT);
    assert.equal(outcome.failure.reachedApp, true, 'unknown counts as sent: only idempotent requests may be retried');
    const body = Readable.from(['x']);
    late?.({ ok: true, classification: 'success', response: { status: 200, headers: {}, body, endpoint: endpoint('a') } });
    await advance(t, 1);
    assert.equal(body.destroyed, true);
  });

  it('does nothing when the timeout is 0', async () => {
    const req = request({ target: target({ timeout: 0 }) });
    let seen: ProxyRequest | undefined;
    await createTimeoutLayer()(async (r) => { seen = r; return response(200, endpoint('a')); })(req);
    assert.equal(seen, req);
  });

  it('keeps an inner layer’s deadline error when the outer deadline fires', async (t) => {
    mockTime(t);
    const inner = new TrellisError(ErrorCodes.UPSTREAM_TIMEOUT, 'inner');
    const pending = createTimeoutLayer({ now: Date.now })(async (req) => {
      await new Promise((resolve) => req.signal.addEventListener('abort', resolve));
      return { ok: false, failure: { error: inner, reachedApp: true, endpoint: endpoint('a') } };
    })(request({ target: oneSecond }));
    await advance(t, 1000, 100);
    const outcome = await pending;
    assert.ok(!outcome.ok);
    assert.match(outcome.failure.error.message, /within its timeout of 1s/, 'the timeout that fired is the one reported');
  });
});
