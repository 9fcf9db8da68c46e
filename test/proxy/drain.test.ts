/**
 * Draining a replica (drain() in-process, SIGTERM to `trellis proxy`): the slow request
 * in flight finishes, new connections are refused and callers' requests go to the other
 * replica without a failure, and the instance is deregistered.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ControlPlaneClient } from '../../src/client/control-plane.js';
import { adminClient } from '../helpers/tokens.js';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, send, sidecar, startApp, url, type App, tearDown } from './helpers.js';
import { killProxies, startProxy } from './proxy-process.js';

/** An app whose /slow requests wait until released. */
async function slowApp(name: string): Promise<App & { arrived(): number; release(): void }> {
  let arrived = 0;
  const waiting: Array<() => void> = [];
  const app = await startApp(name, (req, res) => {
    req.resume();
    if (req.url === '/slow') {
      arrived += 1;
      waiting.push(() => res.end(`${name} slow done`));
    } else {
      res.end(name);
    }
  });
  return { ...app, arrived: () => arrived, release: () => { for (const done of waiting.splice(0)) done(); } };
}

describe('draining a replica', () => {
  const dir = tempDir('proxy-drain');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  let server: ServerProcess;
  let client: ControlPlaneClient;

  before(async () => {
    server = await startServer(dir.path);
    client = adminClient(server.url);
  });

  after(async () => {
    killProxies();
    await tearDown(dir, sidecars, apps);
  });

  it('drain(): finishes the in-flight request, refuses new ones, deregisters, and callers go elsewhere', async () => {
    const slow = await slowApp('a');
    const other = await startApp('b');
    apps.push(slow, other);
    // Permissive: the test itself calls the inbound port without a mesh certificate.
    const draining = await replica(server.url, 'svc', slow, { drainTimeout: '10s', mtls: { mode: 'permissive' } });
    sidecars.push(draining, await replica(server.url, 'svc', other));
    const caller = await sidecar({ service: 'caller', controlPlane: server.url, upstreams: [{ service: 'svc', loadBalancer: 'round-robin' }] });
    sidecars.push(caller);
    await endpointsReached(caller, 'svc', 2);
    const inbound = draining.inbound;
    assert.ok(inbound !== undefined);

    const inFlight = send(url(inbound, '/slow'));
    await waitFor('the slow request to reach the app', () => slow.arrived() === 1);
    const drained = draining.drain();
    assert.equal(draining.status().state, 'draining');

    await assert.rejects(send(url(inbound, '/new')), /ECONNREFUSED/, 'a new connection is refused');
    const answers = await Promise.all(Array.from({ length: 10 }, () => send(url(caller.outbound, '/'), { headers: { host: 'svc' } })));
    assert.deepEqual(answers.map((a) => `${a.status} ${a.body}`), Array(10).fill('200 b'), 'callers are answered by the other replica');
    await waitFor('the instance to be deregistered', async () => !(await client.instances('svc')).instances.some((i) => i.id === 'svc-a'));

    slow.release();
    const finished = await inFlight;
    assert.equal(finished.status, 200);
    assert.equal(finished.body, 'a slow done');
    assert.equal(finished.headers['connection'], 'close');
    await drained;
    assert.equal(draining.status().state, 'closed');
  });

  it('SIGTERM to `trellis proxy`: the in-flight request finishes, then it deregisters and exits 0', async () => {
    const slow = await slowApp('c');
    apps.push(slow);
    const proxy = await startProxy(['--service', 'term', '--id', 'term-1', '--app-port', String(slow.port), '--control-plane', server.url,
      '--ttl', '1s', '--health-interval', '200ms', '--drain-timeout', '10s', '--mtls', 'permissive']);
    assert.ok(proxy.inbound !== undefined);
    await waitFor('registration', async () => (await client.instances('term')).instances.length === 1);

    const inFlight = send(url(proxy.inbound, '/slow'));
    await waitFor('the slow request to reach the app', () => slow.arrived() === 1);
    proxy.child.kill('SIGTERM');
    await waitFor('deregistration', async () => (await client.instances('term')).instances.length === 0);
    await assert.rejects(send(url(proxy.inbound, '/new')), /ECONNREFUSED/);
    slow.release();
    const finished = await inFlight;
    assert.equal(finished.status, 200);
    assert.equal(finished.body, 'c slow done');
    assert.equal(await proxy.exited, 0, proxy.output());
  });
});
