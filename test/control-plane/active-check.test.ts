/** Active HTTP checks run by the control plane, honouring their thresholds. */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ControlPlaneClient } from '../../src/cli/client.js';
import { waitFor } from '../helpers/wait.js';
import { killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { collectEvents, type EventLog } from '../helpers/registry-client.js';

describe('active HTTP check', () => {
  const dir = tempDir('active-check');
  let server: ServerProcess;
  let client: ControlPlaneClient;
  let app: Server;
  let watch: EventLog;
  let healthStatus = 200;
  /** Status codes the app answered on /healthz, in order. */
  const answered: number[] = [];

  before(async () => {
    app = createServer((req, res) => {
      if (req.url === '/healthz') answered.push(healthStatus);
      res.writeHead(req.url === '/healthz' ? healthStatus : 404).end(healthStatus === 200 ? 'ok' : 'broken');
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    server = await startServer(dir.path);
    client = new ControlPlaneClient(server.url);
    watch = collectEvents(server.url, { service: 'web', after: (await client.services()).revision });
    await client.register('web', 'web-1', {
      address: '127.0.0.1',
      port: (app.address() as AddressInfo).port,
      checks: [{ type: 'http', path: '/healthz', interval: '100ms', timeout: '1s', failuresBeforeCritical: 3, successesBeforePassing: 2, initialStatus: 'passing' }],
    });
  });

  after(async () => {
    watch?.stop();
    killAll();
    await new Promise((r) => app.close(r));
    dir.remove();
  });

  const status = async (): Promise<string | undefined> =>
    (await client.instances('web')).instances[0]?.status;

  it('probes the app and stays passing while /healthz answers 200', async () => {
    await waitFor('a few probes', () => answered.length >= 3);
    assert.equal(await status(), 'passing');
  });

  it('turns critical only after 3 consecutive failures when /healthz answers 500', async () => {
    healthStatus = 500;
    const firstFailure = answered.length;
    await waitFor('the instance to turn critical', async () => (await status()) === 'critical');
    const failures = answered.slice(firstFailure).filter((s) => s === 500).length;
    assert.ok(failures >= 3, `critical after ${failures} failing probes; the threshold is 3`);
    const event = await waitFor('a watch event', () => watch.events.find((e) => e.statusChanged && e.instance.status === 'critical'));
    const check = event.instance.checks.find((c) => c.kind === 'http');
    assert.match(check?.output ?? '', /500/);
    const { instances } = await client.instances('web', true);
    assert.equal(instances.length, 0, 'a critical instance is not in the healthy list');
  });

  it('turns passing again only after 2 consecutive successes when it recovers', async () => {
    healthStatus = 200;
    const firstSuccess = answered.length;
    await waitFor('the instance to pass again', async () => (await status()) === 'passing');
    const successes = answered.slice(firstSuccess).filter((s) => s === 200).length;
    assert.ok(successes >= 2, `passing after ${successes} successful probes; the threshold is 2`);
    await waitFor('a watch event', () => watch.events.find((e) => e.statusChanged && e.previousStatus === 'critical' && e.instance.status === 'passing'));
  });

  it('reports 429 as warning, which stays in the healthy list', async () => {
    healthStatus = 429;
    await waitFor('warning', async () => (await status()) === 'warning');
    const { instances } = await client.instances('web', true);
    assert.equal(instances.length, 1);
    healthStatus = 200;
    await waitFor('passing', async () => (await status()) === 'passing');
  });
});
