import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes } from '../../../src/errors.js';
import { backoffDelay } from '../../../src/proxy/layers/backoff.js';
import { createCircuitBreakerLayer } from '../../../src/proxy/layers/circuit-breaker.js';
import { SMALL_BODY_BYTES } from '../../../src/proxy/layers/outcome.js';
import { parseRetryAfter } from '../../../src/proxy/layers/retry-after.js';
import { RetryBudget } from '../../../src/proxy/layers/retry-budget.js';
import { createRetryLayer, createRetryStats, MAX_RETRY_AFTER_MS } from '../../../src/proxy/layers/retry.js';
import type { Outcome } from '../../../src/proxy/types.js';
import { advance, cluster, failure, flush, hangUntilAborted, mockTime, request, response, settled, target, text } from './fixtures.js';

const noJitter = { random: () => 0, now: () => 0 };

function statusOf(outcome: Outcome): number | string {
  return outcome.ok ? outcome.response.status : outcome.failure.error.code;
}

describe('retry layer: what is retried', () => {
  it('retries a GET answered 503 on another endpoint, and discards the 503', async () => {
    let discarded: Outcome | undefined;
    const c = cluster(['a', 'b', 'c'], (ep) => {
      if (ep.id !== 'a') return response(200, ep);
      discarded = response(503, ep);
      return discarded;
    });
    const req = request();
    const outcome = await createRetryLayer(noJitter)(c.handler)(req);
    assert.equal(statusOf(outcome), 200);
    assert.deepEqual(c.calls, ['a', 'b']);
    assert.deepEqual([...req.tried], ['a', 'b']);
    assert.ok(discarded?.ok);
    await flush();
    assert.ok(discarded.response.body?.readableEnded || discarded.response.body?.destroyed, 'the 503 body is drained or destroyed');
  });

  it('retries a GET whose connect failed on another endpoint', async () => {
    const c = cluster(['a', 'b'], (ep) => (ep.id === 'a' ? failure(ErrorCodes.UPSTREAM_CONNECT, ep, false) : response(200, ep)));
    const outcome = await createRetryLayer(noJitter)(c.handler)(request());
    assert.equal(statusOf(outcome), 200);
    assert.deepEqual(c.calls, ['a', 'b']);
  });

  it('retries a GET that failed after reaching the app (reset, timeout): GET is idempotent', async () => {
    const c = cluster(['a', 'b'], (ep) => (ep.id === 'a' ? failure(ErrorCodes.UPSTREAM_RESET, ep, true) : response(200, ep)));
    assert.equal(statusOf(await createRetryLayer(noJitter)(c.handler)(request())), 200);
  });

  it('retries a POST only when it never reached the app', async () => {
    const layer = createRetryLayer(noJitter);
    const refused = cluster(['a', 'b'], (ep) => (ep.id === 'a' ? failure(ErrorCodes.UPSTREAM_CONNECT, ep, false) : response(200, ep)));
    assert.equal(statusOf(await layer(refused.handler)(request({ method: 'POST' }))), 200);
    assert.deepEqual(refused.calls, ['a', 'b']);

    const reset = cluster(['a', 'b'], (ep) => (ep.id === 'a' ? failure(ErrorCodes.UPSTREAM_RESET, ep, true) : response(200, ep)));
    assert.equal(statusOf(await layer(reset.handler)(request({ method: 'POST' }))), ErrorCodes.UPSTREAM_RESET);
    assert.deepEqual(reset.calls, ['a']);

    const unavailable = cluster(['a', 'b'], (ep) => (ep.id === 'a' ? response(503, ep) : response(200, ep)));
    assert.equal(statusOf(await layer(unavailable.handler)(request({ method: 'POST' }))), 503);
    assert.deepEqual(unavailable.calls, ['a']);
  });

  it('treats every idempotent method alike (PUT, DELETE, HEAD, OPTIONS, TRACE) and PATCH like POST', async () => {
    const layer = createRetryLayer(noJitter);
    for (const method of ['PUT', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'get']) {
      const c = cluster(['a', 'b'], (ep) => (ep.id === 'a' ? response(502, ep) : response(200, ep)));
      assert.equal(statusOf(await layer(c.handler)(request({ method }))), 200, method);
    }
    const patch = cluster(['a', 'b'], (ep) => (ep.id === 'a' ? response(502, ep) : response(200, ep)));
    assert.equal(statusOf(await layer(patch.handler)(request({ method: 'PATCH' }))), 502);
  });

  it('retries only the statuses in retryOnStatus', async () => {
    const layer = createRetryLayer(noJitter);
    for (const [status, retried] of [[500, false], [502, true], [503, true], [504, true], [429, false], [404, false]] as const) {
      const c = cluster(['a', 'b'], (ep) => (ep.id === 'a' ? response(status, ep) : response(200, ep)));
      await layer(c.handler)(request());
      assert.equal(c.calls.length, retried ? 2 : 1, String(status));
    }
    const custom = cluster(['a', 'b'], (ep) => (ep.id === 'a' ? response(429, ep) : response(200, ep)));
    await layer(custom.handler)(request({ target: target({ retry: { retryOnStatus: [429] } }) }));
    assert.deepEqual(custom.calls, ['a', 'b']);
  });

  it('does not retry a request whose body cannot be sent again', async () => {
    const c = cluster(['a', 'b'], (ep) => (ep.id === 'a' ? failure(ErrorCodes.UPSTREAM_CONNECT, ep, false) : response(200, ep)));
    const outcome = await createRetryLayer(noJitter)(c.handler)(request({ method: 'PUT', replayable: false }));
    assert.equal(statusOf(outcome), ErrorCodes.UPSTREAM_CONNECT);
    assert.deepEqual(c.calls, ['a']);
  });

  it('does not retry failures about the service rather than an instance (no healthy instance, circuit open)', async () => {
    for (const code of [ErrorCodes.NO_HEALTHY_ENDPOINT, ErrorCodes.CIRCUIT_OPEN]) {
      let calls = 0;
      const outcome = await createRetryLayer(noJitter)(async () => { calls += 1; return failure(code, undefined, false); })(request());
      assert.equal(statusOf(outcome), code);
      assert.equal(calls, 1);
    }
  });

  it('makes at most maxAttempts attempts', async () => {
    const c = cluster(['a', 'b', 'c', 'd', 'e'], (ep) => response(503, ep));
    assert.equal(statusOf(await createRetryLayer(noJitter)(c.handler)(request())), 503);
    assert.deepEqual(c.calls, ['a', 'b', 'c']);
    const one = cluster(['a', 'b'], (ep) => response(503, ep));
    await createRetryLayer(noJitter)(one.handler)(request({ target: target({ retry: { maxAttempts: 1 } }) }));
    assert.deepEqual(one.calls, ['a']);
  });

  it("keeps the upstream's own answer when a retry finds no instance left to try", async () => {
    const c = cluster(['a'], (ep) => response(503, ep, {}, 'sorry, busy'));
    const outcome = await createRetryLayer(noJitter)(c.handler)(request());
    assert.ok(outcome.ok);
    assert.equal(outcome.response.status, 503);
    assert.equal(await text(outcome.response.body), 'sorry, busy', 'the body was kept intact');
  });

  it('frees the retried answer’s circuit-breaker slot before the next attempt (no self-deadlock at maxConcurrent 1)', async () => {
    const c = cluster(['a', 'b'], (ep) => (ep.id === 'a' ? response(503, ep) : response(200, ep)));
    const one = target({ circuitBreaker: { maxConcurrent: 1, maxPending: 1 } });
    const handler = createRetryLayer(noJitter)(createCircuitBreakerLayer()(c.handler));
    const outcome = handler(request({ target: one }));
    assert.ok(await settled(outcome), 'the retry got the slot');
    assert.equal(statusOf(await outcome), 200);
  });

  it('destroys a large retried body rather than keeping it in memory', async () => {
    const big = 'x'.repeat(SMALL_BODY_BYTES + 1);
    let first: Outcome | undefined;
    const c = cluster(['a', 'b'], (ep) => {
      if (ep.id === 'b') return response(200, ep);
      first = response(503, ep, {}, big);
      return first;
    });
    assert.equal(statusOf(await createRetryLayer(noJitter)(c.handler)(request())), 200);
    assert.ok(first?.ok && first.response.body?.destroyed);
  });

  it('answers with the kept response when the client goes away during the back-off', async (t) => {
    mockTime(t);
    const client = new AbortController();
    const c = cluster(['a', 'b'], (ep) => response(503, ep, {}, 'busy'));
    const pending = createRetryLayer({ random: () => 0.5, now: Date.now })(c.handler)(request({ signal: client.signal }));
    await advance(t, 5);
    client.abort();
    const outcome = await pending;
    assert.deepEqual(c.calls, ['a']);
    assert.ok(outcome.ok);
    assert.equal(await text(outcome.response.body), 'busy');
  });

  it('does not retry once the request was cancelled', async () => {
    const controller = new AbortController();
    const c = cluster(['a', 'b'], (ep) => {
      controller.abort();
      return failure(ErrorCodes.UPSTREAM_RESET, ep, true);
    });
    await createRetryLayer(noJitter)(c.handler)(request({ signal: controller.signal }));
    assert.deepEqual(c.calls, ['a']);
  });
});

describe('retry budget', () => {
  it('allows ratio × requests + minRetriesPerSecond × 10 s of retries in a window', () => {
    const budget = new RetryBudget();
    const settings = { budgetRatio: 0.2, minRetriesPerSecond: 10 };
    for (let i = 0; i < 1000; i++) budget.deposit(0);
    let granted = 0;
    while (budget.withdraw(500, settings)) granted += 1;
    assert.equal(granted, 300);
    // Requests and retries leave the window after 10 s: only the reserve is left.
    let later = 0;
    while (budget.withdraw(10_000, settings)) later += 1;
    assert.equal(later, 100);
  });

  it('1,000 GETs all failing at once get 300 retries in all (20% + 10/s × 10 s), not 2,000', async () => {
    const stats = createRetryStats();
    const c = cluster(['a', 'b', 'c'], (ep) => failure(ErrorCodes.UPSTREAM_CONNECT, ep, false));
    const handler = createRetryLayer({ ...noJitter, stats })(c.handler);
    await Promise.all(Array.from({ length: 1000 }, () => handler(request())));
    assert.equal(stats.get('payments', 'retries'), 300);
    assert.equal(c.calls.length, 1300);
    assert.equal(stats.get('payments', 'requests'), 1000);
    // Each request wanted 2 retries; once refused it stops asking: 1,000 refusals.
    assert.equal(stats.get('payments', 'budgetExhausted'), 1000);
  });

  it('spreads over time: a steady 100 failing requests/s gets about 20% + 10/s of retries', async () => {
    let now = 0;
    const stats = createRetryStats();
    const c = cluster(['a', 'b', 'c'], (ep) => failure(ErrorCodes.UPSTREAM_CONNECT, ep, false));
    const handler = createRetryLayer({ random: () => 0, now: () => now, stats })(c.handler);
    for (let second = 0; second < 60; second++) {
      for (let i = 0; i < 100; i++) {
        now = second * 1000 + i * 10;
        await handler(request({ startedAt: now }));
      }
    }
    // In the steady state each 10 s window holds 1,000 requests: 200 + 100 retries, i.e. 30/s.
    const retries = stats.get('payments', 'retries');
    const perSecond = (retries - 300) / 50;
    assert.ok(Math.abs(perSecond - 30) <= 1.5, `${retries} retries over 60 s (${perSecond.toFixed(1)}/s after the first window)`);
  });

  it('keeps a separate budget per service', async () => {
    const stats = createRetryStats();
    const c = cluster(['a', 'b'], (ep) => failure(ErrorCodes.UPSTREAM_CONNECT, ep, false));
    const handler = createRetryLayer({ ...noJitter, stats })(c.handler);
    const lean = target({ retry: { budgetRatio: 0, minRetriesPerSecond: 0 } }, 'lean');
    await handler(request({ target: lean }));
    await handler(request());
    assert.equal(stats.get('lean', 'retries'), 0);
    assert.equal(stats.get('lean', 'budgetExhausted'), 1);
    assert.equal(stats.get('payments', 'retries'), 2);
  });
});

describe('back-off and Retry-After', () => {
  it('waits uniform in [0, min(max, base × 2^(n−1))): full jitter, capped', () => {
    for (let retry = 1; retry <= 8; retry++) {
      const ceiling = Math.min(250, 25 * 2 ** (retry - 1));
      assert.equal(backoffDelay(retry, 25, 250, () => 0), 0);
      assert.equal(backoffDelay(retry, 25, 250, () => 0.5), Math.floor(ceiling / 2));
      assert.equal(backoffDelay(retry, 25, 250, () => 0.999_999), ceiling - 1);
    }
    let seed = 1;
    const random = (): number => ((seed = (seed * 16_807) % 2_147_483_647) / 2_147_483_647);
    for (let i = 0; i < 1000; i++) {
      const d = backoffDelay(3, 25, 250, random);
      assert.ok(d >= 0 && d < 100);
    }
  });

  it('sleeps the jittered back-off between attempts', async (t) => {
    mockTime(t);
    const c = cluster(['a', 'b', 'c'], (ep) => response(503, ep));
    const pending = createRetryLayer({ random: () => 0.5, now: Date.now })(c.handler)(request());
    await advance(t, 11);
    assert.deepEqual(c.calls, ['a'], 'first retry waits floor(0.5 × 25) = 12 ms');
    await advance(t, 1);
    assert.deepEqual(c.calls, ['a', 'b']);
    await advance(t, 24);
    assert.deepEqual(c.calls, ['a', 'b'], 'second retry waits floor(0.5 × 50) = 25 ms');
    await advance(t, 1);
    assert.deepEqual(c.calls, ['a', 'b', 'c']);
    assert.equal(statusOf(await pending), 503);
  });

  it('honours Retry-After in seconds instead of the back-off', async (t) => {
    mockTime(t);
    const c = cluster(['a', 'b'], (ep) => (ep.id === 'a' ? response(503, ep, { 'retry-after': '2' }) : response(200, ep)));
    const pending = createRetryLayer({ random: () => 0, now: Date.now })(c.handler)(request());
    await advance(t, 1999, 10);
    assert.deepEqual(c.calls, ['a']);
    await advance(t, 1);
    assert.deepEqual(c.calls, ['a', 'b']);
    assert.equal(statusOf(await pending), 200);
  });

  it('honours Retry-After as an HTTP-date', async (t) => {
    mockTime(t, Date.parse('2025-01-01T00:00:00Z'));
    const c = cluster(['a', 'b'], (ep) => (ep.id === 'a' ? response(503, ep, { 'retry-after': 'Wed, 01 Jan 2025 00:00:03 GMT' }) : response(200, ep)));
    const pending = createRetryLayer({ random: () => 0, now: Date.now, wallClock: Date.now })(c.handler)(request());
    await advance(t, 2990, 10);
    assert.deepEqual(c.calls, ['a']);
    await advance(t, 10);
    assert.deepEqual(c.calls, ['a', 'b']);
    await pending;
  });

  it('returns the response as it is when Retry-After asks for more than the cap or than the deadline leaves', async () => {
    const tooLong = cluster(['a', 'b'], (ep) => response(503, ep, { 'retry-after': String(MAX_RETRY_AFTER_MS / 1000 + 1) }));
    assert.equal(statusOf(await createRetryLayer(noJitter)(tooLong.handler)(request({ startedAt: 0 }))), 503);
    assert.deepEqual(tooLong.calls, ['a']);

    const pastDeadline = cluster(['a', 'b'], (ep) => response(503, ep, { 'retry-after': '2' }));
    const req = request({ target: target({ timeout: '1s' }), startedAt: 0 });
    assert.equal(statusOf(await createRetryLayer(noJitter)(pastDeadline.handler)(req)), 503);
    assert.deepEqual(pastDeadline.calls, ['a']);
  });

  it('does not start a back-off that would outlast the deadline', async () => {
    let now = 0;
    const c = cluster(['a', 'b'], (ep) => {
      now = 990; // the first attempt used up most of a 1 s timeout
      return response(503, ep);
    });
    await createRetryLayer({ random: () => 0.99, now: () => now })(c.handler)(request({ target: target({ timeout: '1s' }), startedAt: 0 }));
    assert.deepEqual(c.calls, ['a'], 'a 24 ms back-off does not fit in the 10 ms left');
  });

  it('reads Retry-After forms, ignoring what it cannot read', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('5', now), 5000);
    assert.equal(parseRetryAfter(['7', '9'], now), 7000);
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now), 10_000);
    assert.equal(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now), 0, 'a date in the past: now');
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('-1', now), undefined);
    assert.equal(parseRetryAfter('2025-01-02', now), undefined, 'not an HTTP-date');
    assert.equal(parseRetryAfter('120', now), 120_000);
  });
});

describe('per-try timeout', () => {
  it('aborts a slow attempt after perTryTimeout and retries it elsewhere', async (t) => {
    mockTime(t);
    const c = cluster(['a', 'b'], (ep, req) => (ep.id === 'a' ? hangUntilAborted(req, ep) : response(200, ep)));
    const pending = createRetryLayer({ random: () => 0, now: Date.now })(c.handler)(request({ target: target({ perTryTimeout: '100ms' }) }));
    await advance(t, 99);
    assert.deepEqual(c.calls, ['a']);
    await advance(t, 1);
    assert.equal(statusOf(await pending), 200);
    assert.deepEqual(c.calls, ['a', 'b']);
    const first = c.requests[0];
    assert.ok(first?.signal.aborted);
    assert.equal((first.signal.reason as { code?: string }).code, ErrorCodes.UPSTREAM_TIMEOUT);
    assert.equal(c.requests[1]?.signal.aborted, false, 'each attempt has its own deadline');
  });

  it('answers UPSTREAM_TIMEOUT when every attempt times out', async (t) => {
    mockTime(t);
    const c = cluster(['a', 'b', 'c'], (ep, req) => hangUntilAborted(req, ep));
    const pending = createRetryLayer({ random: () => 0, now: Date.now })(c.handler)(request({ target: target({ perTryTimeout: 50 }) }));
    await advance(t, 150);
    assert.ok(await settled(pending));
    const outcome = await pending;
    assert.ok(!outcome.ok);
    assert.equal(outcome.failure.error.code, ErrorCodes.UPSTREAM_TIMEOUT);
    assert.deepEqual(outcome.failure.error.details, { scope: 'try', timeoutMs: 50 });
    assert.equal(outcome.failure.endpoint?.id, 'c');
  });
});
