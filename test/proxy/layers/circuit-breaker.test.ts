import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { ErrorCodes, TrellisError } from '../../../src/errors.js';
import { createCircuitBreakerLayer, createCircuitStats } from '../../../src/proxy/layers/circuit-breaker.js';
import type { Handler, Outcome, ProxyRequest } from '../../../src/proxy/types.js';
import { endpoint, flush, request, response, settled, target } from './fixtures.js';

/** An inner handler whose requests stay in flight until `finish(i)`. */
function controlled(): { handler: Handler; started: string[]; finish(id: string, outcome?: Outcome): void } {
  const waiting = new Map<string, (outcome: Outcome) => void>();
  const started: string[] = [];
  return {
    started,
    handler: (req) => new Promise((resolve) => {
      started.push(req.id);
      waiting.set(req.id, resolve);
    }),
    finish(id, outcome = { ok: false, failure: { error: new TrellisError(ErrorCodes.UPSTREAM_RESET, 'x'), reachedApp: true, endpoint: endpoint('a') } }) {
      waiting.get(id)?.(outcome);
      waiting.delete(id);
    },
  };
}

const small = target({ circuitBreaker: { maxConcurrent: 2, maxPending: 2 } });

function named(id: string, extra: Partial<ProxyRequest> = {}): ProxyRequest {
  return { ...request({ target: small }), id, ...extra };
}

describe('circuit breaker layer', () => {
  it('lets maxConcurrent through, queues maxPending in order, refuses the rest with CIRCUIT_OPEN', async () => {
    const inner = controlled();
    const stats = createCircuitStats();
    const handler = createCircuitBreakerLayer({ stats })(inner.handler);
    const results = ['r1', 'r2', 'r3', 'r4'].map((id) => handler(named(id)));
    await flush();
    assert.deepEqual(inner.started, ['r1', 'r2']);

    const refused = await handler(named('r5'));
    assert.ok(!refused.ok);
    assert.equal(refused.failure.error.code, ErrorCodes.CIRCUIT_OPEN);
    assert.equal(refused.failure.error.status, 503);
    assert.equal(refused.failure.reachedApp, false, 'never sent: safe to retry elsewhere');
    assert.match(refused.failure.error.message, /payments is at its concurrency limit: 2 requests in flight \(circuitBreaker.maxConcurrent 2\) and 2 waiting \(maxPending 2\)/);
    assert.deepEqual(refused.failure.error.details, { maxConcurrent: 2, maxPending: 2, inFlight: 2, pending: 2 });

    inner.finish('r2');
    await flush();
    assert.deepEqual(inner.started, ['r1', 'r2', 'r3'], 'the oldest waiting request takes the slot');
    inner.finish('r1');
    await flush();
    assert.deepEqual(inner.started, ['r1', 'r2', 'r3', 'r4']);
    inner.finish('r3');
    inner.finish('r4');
    await Promise.all(results);
    assert.deepEqual(stats.snapshot(), { payments: { rejected: 1, queued: 2, cancelled: 0 } });

    // All slots are free again.
    const again = ['s1', 's2'].map((id) => handler(named(id)));
    await flush();
    assert.deepEqual(inner.started.slice(-2), ['s1', 's2']);
    inner.finish('s1');
    inner.finish('s2');
    await Promise.all(again);
  });

  it('takes a waiting request out of the queue when its signal aborts', async () => {
    const inner = controlled();
    const stats = createCircuitStats();
    const handler = createCircuitBreakerLayer({ stats })(inner.handler);
    const client = new AbortController();
    const running = ['r1', 'r2'].map((id) => handler(named(id)));
    const gone = handler(named('gone', { signal: client.signal }));
    const kept = handler(named('kept'));
    await flush();
    client.abort();
    const outcome = await gone;
    assert.ok(!outcome.ok);
    assert.notEqual(outcome.failure.error.code, ErrorCodes.CIRCUIT_OPEN);
    assert.equal(outcome.failure.reachedApp, false);
    // Its place in the queue is free: another request may wait.
    const another = handler(named('another'));
    await flush();
    inner.finish('r1');
    await flush();
    assert.deepEqual(inner.started, ['r1', 'r2', 'kept'], 'the aborted request never started');
    inner.finish('r2');
    await flush();
    assert.deepEqual(inner.started, ['r1', 'r2', 'kept', 'another']);
    inner.finish('kept');
    inner.finish('another');
    await Promise.all([...running, kept, another]);
    assert.equal(stats.get('payments', 'cancelled'), 1);
  });

  it('answers a deadline that passes while waiting with the deadline’s error', async () => {
    const inner = controlled();
    const handler = createCircuitBreakerLayer()(inner.handler);
    const deadline = new AbortController();
    const running = ['r1', 'r2'].map((id) => handler(named(id)));
    const waiting = handler(named('late', { signal: deadline.signal }));
    await flush();
    deadline.abort(new TrellisError(ErrorCodes.UPSTREAM_TIMEOUT, 'payments did not answer within its timeout of 1s'));
    const outcome = await waiting;
    assert.ok(!outcome.ok);
    assert.equal(outcome.failure.error.code, ErrorCodes.UPSTREAM_TIMEOUT);
    inner.finish('r1');
    inner.finish('r2');
    await Promise.all(running);
  });

  it('holds a slot until the response body ends, not just until the head arrives', async () => {
    const bodies: PassThrough[] = [];
    const handler = createCircuitBreakerLayer()(async () => {
      const body = new PassThrough();
      bodies.push(body);
      return { ok: true, classification: 'success', response: { status: 200, headers: {}, body, endpoint: endpoint('a') } };
    });
    const target1 = target({ circuitBreaker: { maxConcurrent: 1, maxPending: 1 } });
    const first = await handler(request({ target: target1 }));
    assert.ok(first.ok);
    const second = handler(request({ target: target1 }));
    assert.equal(await settled(second), false, 'the first body is still streaming');
    bodies[0]?.end('done');
    bodies[0]?.resume();
    await flush();
    assert.equal(await settled(second), true);
    const secondOutcome = await second;
    assert.ok(secondOutcome.ok);
    const third = handler(request({ target: target1 }));
    await flush();
    assert.equal(await settled(third), false);
    bodies[1]?.destroy();
    assert.equal(await settled(third), true, 'a destroyed body frees its slot too');
  });

  it('frees the slot at once for a failure or a response without a body', async () => {
    const handler = createCircuitBreakerLayer()(async () => ({ ok: true, classification: 'success', response: { status: 204, headers: {}, body: null, endpoint: endpoint('a') } }));
    const one = target({ circuitBreaker: { maxConcurrent: 1, maxPending: 0 } });
    for (let i = 0; i < 5; i++) assert.ok((await handler(request({ target: one }))).ok);
  });

  it('keeps separate limits per service', async () => {
    const inner = controlled();
    const handler = createCircuitBreakerLayer()(inner.handler);
    const one = (service: string, id: string): Promise<Outcome> =>
      handler({ ...request({ target: target({ circuitBreaker: { maxConcurrent: 1, maxPending: 0 } }, service) }), id });
    const a = one('alpha', 'a1');
    const b = one('beta', 'b1');
    await flush();
    assert.deepEqual(inner.started, ['a1', 'b1']);
    const refused = await one('alpha', 'a2');
    assert.ok(!refused.ok);
    assert.match(refused.failure.error.message, /^alpha /);
    inner.finish('a1');
    inner.finish('b1');
    await Promise.all([a, b]);
  });

  it('releases the slot when the inner handler throws', async () => {
    let fail = true;
    const handler = createCircuitBreakerLayer()(async () => {
      if (fail) throw new Error('bug');
      return response(200, endpoint('a'));
    });
    const one = target({ circuitBreaker: { maxConcurrent: 1, maxPending: 0 } });
    await assert.rejects(handler(request({ target: one })), /bug/);
    fail = false;
    assert.ok((await handler(request({ target: one }))).ok);
  });
});
