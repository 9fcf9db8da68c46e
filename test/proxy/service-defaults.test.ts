/**
 * Service defaults reach running sidecars: a per-try timeout put through the API takes
 * effect against a slow upstream within a second (shown by behaviour: 504 from the
 * per-try timeout instead of a slow 200), on every caller; a caller's own upstream entry
 * overrides the field it sets and keeps the rest; while the control plane is stopped the
 * last known defaults stay in force; a delete returns callers to their own settings.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { DEFAULT_UPSTREAM_POLICY } from '../../src/proxy/policy.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminClient } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, send, sidecar, startApp, tearDown, url, type App } from './helpers.js';

/** How long the upstream takes to answer /slow. */
const SLOW_MS = 1_500;

function revisionAt(caller: Sidecar, service: string): number | undefined {
  return caller.status().policies[service]?.source.serviceDefaultsRevision;
}

describe('service defaults in running sidecars', () => {
  const dir = tempDir('proxy-service-defaults');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  let server: ServerProcess;
  let caller: Sidecar;
  let other: Sidecar;
  let local: Sidecar;
  const slow = (at: Sidecar) => send(url(at.outbound, '/slow'), { headers: { host: 'svc' } });

  before(async () => {
    server = await startServer(dir.path, ['--dns', 'off']);
    const app = await startApp('svc', (req, res) => {
      req.resume();
      if (req.url === '/slow') setTimeout(() => res.end('slow'), SLOW_MS).unref();
      else res.end('fast');
    });
    apps.push(app);
    sidecars.push(await replica(server.url, 'svc', app));
    // Explicit defaults first, so that the test does not depend on the built-in per-try timeout.
    await adminClient(server.url).putServiceDefaults('svc', { perTryTimeout: '10s', retry: { maxAttempts: 1 } });
    caller = await sidecar({ service: 'caller', controlPlane: server.url, upstreams: ['svc'] });
    other = await sidecar({ service: 'other', controlPlane: server.url, upstreams: ['svc'] });
    local = await sidecar({ service: 'local', controlPlane: server.url, upstreams: [{ service: 'svc', perTryTimeout: '8s', timeout: '9s' }] });
    sidecars.push(caller, other, local);
    for (const s of [caller, other, local]) await endpointsReached(s, 'svc', 1);
  });

  after(() => tearDown(dir, sidecars, apps));

  it('a changed per-try timeout reaches every caller within 1 s and takes effect against a slow upstream', async (t) => {
    const before = await slow(caller);
    assert.equal(before.status, 200, 'perTryTimeout 10s: the slow answer arrives');
    assert.equal(caller.status().policies['svc']?.policy.perTryTimeoutMs, 10_000);

    const client = adminClient(server.url);
    const put = await client.putServiceDefaults('svc', { perTryTimeout: '300ms', retry: { maxAttempts: 1 } });
    const sentAt = performance.now();
    await waitFor('both callers to adopt the new defaults', () => revisionAt(caller, 'svc') === put.revision && revisionAt(other, 'svc') === put.revision,
      { timeoutMs: 5_000, everyMs: 5 });
    const propagationMs = performance.now() - sentAt;
    t.diagnostic(`the defaults reached both sidecars ${propagationMs.toFixed(1)} ms after the PUT answered`);
    assert.ok(propagationMs < 1_000, `the defaults reached both sidecars in ${Math.round(propagationMs)} ms`);

    for (const at of [caller, other]) {
      const startedAt = performance.now();
      const answer = await slow(at);
      const tookMs = performance.now() - startedAt;
      assert.equal(answer.status, 504, 'the per-try timeout ends the attempt');
      assert.equal(answer.headers['trellis-error'], 'TRELLIS_ERR_UPSTREAM_TIMEOUT');
      assert.ok(tookMs < SLOW_MS - 300, `answered in ${Math.round(tookMs)} ms, well before the upstream's ${SLOW_MS} ms`);
    }
    assert.equal((await send(url(caller.outbound, '/'), { headers: { host: 'svc' } })).body, 'fast', 'fast requests are untouched');
  });

  it("a caller's own upstream entry overrides the fields it sets and keeps the rest", async () => {
    const revision = revisionAt(caller, 'svc');
    await waitFor('the local caller to see the same defaults', () => revisionAt(local, 'svc') === revision);
    const status = local.status().policies['svc'];
    assert.deepEqual([...(status?.source.overrides ?? [])].sort(), ['perTryTimeout', 'timeout']);
    assert.equal(status?.policy.perTryTimeoutMs, 8_000, 'the local perTryTimeout wins');
    assert.equal(status?.policy.timeoutMs, 9_000);
    assert.equal(status?.policy.retry.maxAttempts, 1, 'retry comes from the service defaults');
    const answer = await slow(local);
    assert.equal(answer.status, 200, 'no per-try timeout of 300 ms here');
    assert.equal(answer.body, 'slow');
  });

  it('keeps the last known defaults while the control plane is stopped; a delete after it is back returns to local settings', async () => {
    const revision = revisionAt(caller, 'svc');
    const port = new URL(server.url).port;
    await server.kill('SIGKILL');
    await waitFor('the caller to notice', () => caller.status().controlPlane === 'stale', { timeoutMs: 15_000 });
    assert.equal(revisionAt(caller, 'svc'), revision, 'the last known defaults are kept');
    const whileDown = await slow(caller);
    assert.equal(whileDown.status, 504, 'and still enforced');
    assert.equal(whileDown.headers['trellis-error'], 'TRELLIS_ERR_UPSTREAM_TIMEOUT');

    server = await startServer(dir.path, ['--dns', 'off', '--listen', `127.0.0.1:${port}`]);
    await waitFor('the caller to resync', () => caller.status().controlPlane === 'connected', { timeoutMs: 15_000 });
    await adminClient(server.url).deleteServiceDefaults('svc');
    await waitFor('the caller to drop the deleted defaults', () => caller.status().policies['svc']?.source.serviceDefaultsRevision === undefined);
    assert.equal(caller.status().policies['svc']?.policy.retry.maxAttempts, DEFAULT_UPSTREAM_POLICY.retry.maxAttempts, 'back to the built-in retries');
    assert.equal((await send(url(caller.outbound, '/'), { headers: { host: 'svc' } })).status, 200);
  });
});
