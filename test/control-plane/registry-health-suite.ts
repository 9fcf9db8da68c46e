/**
 * The registry and health suite, run against every store backend (one suite, two backends:
 * registry-health.embedded.test.ts and registry-health.etcd.test.ts). A real `trellis server`
 * per group of tests; `start(label)` gives one on the backend under test.
 *
 * - TTL heartbeats (the seed's failure detection): three instances heartbeat; one stops → it
 *   leaves the healthy list within TTL + 1 s and a watcher sees the event; heartbeats resume → back.
 * - Instances critical too long are deregistered; one that recovers is spared.
 * - Active HTTP checks run by the control plane, honouring their thresholds.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ControlPlaneClient } from '../../src/client/control-plane.js';
import { adminClient } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { killAll, type ServerProcess } from '../helpers/processes.js';
import { collectEvents, type EventLog } from '../helpers/registry-client.js';

/** Start a control plane on the backend under test; `label` keeps its data apart from the others'. */
export type StartControlPlane = (label: string) => Promise<ServerProcess>;

const TTL_MS = 1_000;

export function registryHealthSuite(backend: string, start: StartControlPlane): void {
  describe(`${backend}: TTL heartbeats`, () => {
    let server: ServerProcess;
    let client: ControlPlaneClient;
    let watch: EventLog;
    const beating = new Set(['a', 'b', 'c']);
    let beatTimer: NodeJS.Timeout | undefined;

    before(async () => {
      server = await start('heartbeat');
      client = adminClient(server.url);
      const { revision } = await client.services();
      watch = collectEvents(server.url, { service: 'my-service', after: revision });
      for (const [i, id] of ['a', 'b', 'c'].entries()) {
        await client.register('my-service', id, { address: '127.0.0.1', port: 9001 + i, ttl: TTL_MS, deregisterCriticalAfter: '1m' });
      }
      beatTimer = setInterval(() => {
        for (const id of beating) client.heartbeat('my-service', id).catch(() => undefined);
      }, TTL_MS / 4);
    });

    after(async () => {
      clearInterval(beatTimer);
      watch?.stop();
      killAll();
    });

    it('lists all three as healthy while they heartbeat', async () => {
      const { instances } = await client.instances('my-service', true);
      assert.deepEqual(instances.map((i) => i.id).sort(), ['a', 'b', 'c']);
    });

    it('drops a silent instance from the healthy list within TTL + 1 s and tells the watcher', async () => {
      beating.delete('b');
      const stoppedAt = Date.now();
      await waitFor('b to leave the healthy list', async () => {
        const { instances } = await client.instances('my-service', true);
        return !instances.some((i) => i.id === 'b');
      }, { timeoutMs: TTL_MS + 3_000, everyMs: 20 });
      const elapsed = Date.now() - stoppedAt;
      assert.ok(elapsed <= TTL_MS + 1_000, `left the healthy list after ${elapsed} ms, expected ≤ ${TTL_MS + 1_000} ms`);

      const event = await waitFor('the watcher to see b go critical', () =>
        watch.events.find((e) => e.id === 'b' && e.statusChanged && e.instance.status === 'critical'));
      assert.equal(event.previousStatus, 'passing');
      assert.equal(event.type, 'updated');
      const { instances } = await client.instances('my-service', true);
      assert.deepEqual(instances.map((i) => i.id).sort(), ['a', 'c'], 'the others stay healthy');
      const all = await client.instances('my-service');
      assert.equal(all.instances.find((i) => i.id === 'b')?.checks.find((c) => c.name === 'ttl')?.status, 'critical');
    });

    it('brings it back when heartbeats resume, with an event', async () => {
      beating.add('b');
      await waitFor('b to be healthy again', async () => {
        const { instances } = await client.instances('my-service', true);
        return instances.some((i) => i.id === 'b');
      });
      await waitFor('the watcher to see b pass again', () =>
        watch.events.find((e) => e.id === 'b' && e.statusChanged && e.previousStatus === 'critical' && e.instance.status === 'passing'));
    });

    it('delivers events in revision order without duplicates', () => {
      const revisions = watch.events.map((e) => e.revision);
      assert.deepEqual(revisions, [...revisions].sort((x, y) => x - y));
      assert.equal(new Set(revisions).size, revisions.length);
      assert.equal(watch.events.filter((e) => e.type === 'registered').length, 3);
    });
  });

  describe(`${backend}: deregistration of instances critical too long`, () => {
    after(() => { killAll(); });

    it('deregisters after deregisterCriticalAfter, with a watch event, and spares one that recovers', async () => {
      const server = await start('reaper');
      const client = adminClient(server.url);
      const watch = collectEvents(server.url, { service: 'flaky', after: (await client.services()).revision });
      await client.register('flaky', 'gone', { address: '127.0.0.1', port: 9100, ttl: '500ms', deregisterCriticalAfter: '1s' });
      await client.register('flaky', 'back', { address: '127.0.0.1', port: 9101, ttl: '500ms', deregisterCriticalAfter: '1s' });
      await waitFor('both critical', async () => (await client.instances('flaky')).instances.every((i) => i.status === 'critical'));
      await client.heartbeat('flaky', 'back');
      const keepBack = setInterval(() => { client.heartbeat('flaky', 'back').catch(() => undefined); }, 150);
      after(() => clearInterval(keepBack));
      const criticalAt = Date.now();
      const event = await waitFor('gone to be deregistered', () => watch.events.find((e) => e.id === 'gone' && e.type === 'deregistered'), { timeoutMs: 5_000 });
      assert.equal(event.instance.status, 'critical');
      assert.ok(Date.now() - criticalAt < 3_000);
      const { instances } = await client.instances('flaky');
      assert.deepEqual(instances.map((i) => i.id), ['back'], 'the instance that heartbeats again stays registered');
      watch.stop();
    });
  });

  describe(`${backend}: active HTTP check`, () => {
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
      server = await start('active-check');
      client = adminClient(server.url);
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
}
