/**
 * The control plane is killed (-9): the caller keeps routing with its last endpoint
 * table and says it is stale; a replica started meanwhile keeps trying to register. The
 * control plane restarts on the same data dir and port: the caller resyncs and routes to
 * the new replica too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { distribution, endpointsReached, replica, sidecar, startApp, type App, tearDown } from './helpers.js';

describe('losing the control plane', () => {
  const dir = tempDir('proxy-cp-loss');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  let server: ServerProcess;
  let caller: Sidecar;

  before(async () => {
    server = await startServer(dir.path);
    for (const name of ['a', 'b']) {
      const app = await startApp(name);
      apps.push(app);
      sidecars.push(await replica(server.url, 'svc', app));
    }
    caller = await sidecar({ service: 'caller', controlPlane: server.url, upstreams: [{ service: 'svc', loadBalancer: 'round-robin' }] });
    sidecars.push(caller);
    await endpointsReached(caller, 'svc', 2);
  });

  after(() => tearDown(dir, sidecars, apps));

  it('keeps routing with the last endpoints while it is down, and resyncs when it is back', async () => {
    assert.equal(caller.status().controlPlane, 'connected');
    const port = new URL(server.url).port;
    await server.kill('SIGKILL');
    await waitFor('the caller to notice', () => caller.status().controlPlane === 'stale');
    assert.deepEqual([...(caller.status().upstreams['svc']?.endpoints ?? [])].sort(), ['svc-a', 'svc-b']);

    const whileDown = await distribution(caller.outbound, 'svc', 60, 4);
    assert.deepEqual(Object.fromEntries(whileDown), { a: 30, b: 30 }, 'traffic keeps flowing to the last known endpoints');

    // A replica that starts while the control plane is away registers once it is back.
    const late = await startApp('c');
    apps.push(late);
    const lateSidecar = await replica(server.url, 'svc', late);
    sidecars.push(lateSidecar);
    await waitFor('the new replica to try and fail to register', () => lateSidecar.status().controlPlane === 'stale');

    server = await startServer(dir.path, ['--listen', `127.0.0.1:${port}`]);
    await waitFor('the caller to resync', () => caller.status().controlPlane === 'connected', { timeoutMs: 15_000 });
    await endpointsReached(caller, 'svc', 3);
    const afterRestart = await distribution(caller.outbound, 'svc', 90, 3);
    assert.deepEqual(Object.fromEntries([...afterRestart].sort()), { a: 30, b: 30, c: 30 }, 'the replica registered meanwhile gets traffic');
  });
});
