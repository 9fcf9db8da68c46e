/**
 * The observation layer batches: a finished request's record reaches the sinks at the end of
 * the event-loop turn (or at once when someone reads, through flush()), every request exactly
 * once, and a sink that throws neither fails the request nor stops the other sinks.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createObserveLayer, type RequestRecord } from '../../../src/proxy/layers/observe.js';
import { sidecarRoutes } from '../../../src/telemetry/routes.js';
import { endpoint, request, response } from './fixtures.js';

const routes = sidecarRoutes([], new Map([['payments', [{ name: 'pay', method: 'POST', path: '/' }]]]));

it('hands each finished request to every sink once, batched per event-loop turn, and at once on flush()', async () => {
  const seen: RequestRecord[] = [];
  const observe = createObserveLayer([(r) => seen.push(r)], 'web', routes, (err) => { throw err; });
  const handler = observe.layer(() => Promise.resolve(response(200, endpoint('a'))));
  // startedAt on the clock the layer measures with (the fixtures' default is Date.now()).
  const now = (method?: string) => request({ startedAt: performance.now(), ...(method === undefined ? {} : { method }) });
  await Promise.all([handler(now('POST')), handler(now()), handler(now())]);
  assert.equal(seen.length, 0, 'not yet: the batch runs at the end of the turn');
  observe.flush();
  assert.deepEqual(seen.map((r) => [r.route, r.status, r.classification, r.src]), [['pay', 200, 'success', 'web'], ['[default]', 200, 'success', 'web'], ['[default]', 200, 'success', 'web']]);
  assert.ok(seen.every((r) => r.latencyMs >= 0 && r.latencyMs < 1_000), seen.map((r) => r.latencyMs).join());
  await handler(now());
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(seen.length, 4, 'the end of the turn hands over the rest');
  observe.flush();
  assert.equal(seen.length, 4, 'never twice');
});

it('keeps answering when a sink throws, and still feeds the other sinks', async () => {
  const errors: unknown[] = [];
  let fed = 0;
  const observe = createObserveLayer([() => { throw new Error('the log was closed'); }, () => { fed += 1; }], 'web', routes, (err) => errors.push(err));
  const outcome = await observe.layer(() => Promise.resolve(response(503, endpoint('a'))))(request());
  assert.ok(outcome.ok);
  observe.flush();
  assert.equal(fed, 1);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /the log was closed/);
});
