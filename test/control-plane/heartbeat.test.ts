/**
 * The seed's failure detection: three instances heartbeat; one stops → it leaves the
 * healthy list within TTL + 1 s and a watcher sees the event; heartbeats resume → it is back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ControlPlaneClient } from '../../src/cli/client.js';
import { waitFor } from '../helpers/wait.js';
import { killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { collectEvents, type EventLog } from '../helpers/registry-client.js';

const TTL_MS = 1_000;

describe('TTL heartbeats', () => {
  const dir = tempDir('heartbeat');
  let server: ServerProcess;
  let client: ControlPlaneClient;
  let watch: EventLog;
  const beating = new Set(['a', 'b', 'c']);
  let beatTimer: NodeJS.Timeout | undefined;

  before(async () => {
    server = await startServer(dir.path);
    client = new ControlPlaneClient(server.url);
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
    dir.remove();
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

describe('deregistration of instances critical too long', () => {
  const dir = tempDir('reaper');
  after(() => { killAll(); dir.remove(); });

  it('deregisters after deregisterCriticalAfter, with a watch event, and spares one that recovers', async () => {
    const server = await startServer(dir.path);
    const client = new ControlPlaneClient(server.url);
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
