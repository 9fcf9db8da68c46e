/**
 * Faults of the etcd cluster under running control planes: kill -9 of the etcd leader during a
 * stream of registrations and heartbeats; loss of quorum (reads served, writes refused with a
 * coded 503, recovery without restarting Trellis); and a cluster that is down when Trellis starts.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { adminClient } from '../helpers/tokens.js';
import { ErrorCodes, TrellisError } from '../../src/errors.js';
import type { RegistryEvent } from '../../src/registry/types.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.js';
import { api, CLI, killAll, startServer, tempDir, type ApiErrorBody, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

describe('etcd faults under running control planes', () => {
  const dir = tempDir('etcd-faults');
  let cluster: EtcdCluster;
  let a: ServerProcess;
  let b: ServerProcess;
  const own: ChildProcess[] = [];

  before(async () => {
    cluster = await startEtcdCluster();
    [a, b] = await Promise.all([0, 1].map(() => startServer(dir.path, ['--store', cluster.url, '--etcd-prefix', '/faults'])));
  });

  after(async () => {
    for (const child of own) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    killAll();
    await cluster?.stop();
    dir.remove();
  });

  it('kill -9 of the etcd leader under registrations and heartbeats: nothing acknowledged is lost, heartbeating instances stay healthy', async () => {
    const client = adminClient([a.url, b.url]);
    const { revision } = await client.services();
    const events: RegistryEvent[] = [];
    const abort = new AbortController();
    const watching = adminClient(b.url).watch({ after: revision, signal: abort.signal }, (e) => events.push(e)).catch((err: unknown) => err);

    // Five instances on a 2 s TTL, heartbeating every 300 ms throughout.
    const beating = ['hb-0', 'hb-1', 'hb-2', 'hb-3', 'hb-4'];
    for (const id of beating) await client.register('beat', id, { address: '127.0.0.1', port: 9000, ttl: '2s' });
    let running = true;
    const heartbeatFailures: string[] = [];
    const heartbeats = beating.map(async (id) => {
      while (running) {
        await client.heartbeat('beat', id).catch((err: unknown) => heartbeatFailures.push(`${id}: ${(err as Error).message}`));
        await new Promise((r) => setTimeout(r, 300));
      }
    });
    // A stream of registrations, alternately through each replica.
    const acknowledged: string[] = [];
    const refused: string[] = [];
    const registrations = (async () => {
      for (let i = 0; running; i += 1) {
        const id = `r-${i}`;
        try {
          await adminClient(i % 2 === 0 ? a.url : b.url).register('stream', id, { address: '127.0.0.1', port: 10_000 + (i % 50_000) });
          acknowledged.push(id);
        } catch (err) {
          refused.push(`${id}: ${(err as TrellisError).code}`);
        }
      }
    })();

    await waitFor('registrations under way', () => acknowledged.length >= 30);
    const killed = await cluster.killLeader();
    const atKill = acknowledged.length;
    await waitFor('registrations to continue after the election', () => acknowledged.length >= atKill + 50, { timeoutMs: 20_000 });
    // Keep the heartbeats going for more than one TTL past the election.
    const until = Date.now() + 2_500;
    await waitFor('2.5 s more of heartbeats', () => Date.now() > until);
    running = false;
    await Promise.all([registrations, ...heartbeats]);

    const stored = new Set((await client.instances('stream')).instances.map((i) => i.id));
    const lost = acknowledged.filter((id) => !stored.has(id));
    assert.deepEqual(lost, [], `${lost.length} acknowledged registrations lost`);
    const beat = (await client.instances('beat')).instances;
    assert.deepEqual(beat.map((i) => [i.id, i.status]), beating.map((id) => [id, 'passing']));
    await waitFor('the watcher to have the last registration', () => events.some((e) => e.id === acknowledged.at(-1)));
    const wentCritical = events.filter((e) => e.service === 'beat' && e.instance.status === 'critical');
    assert.deepEqual(wentCritical.map((e) => e.id), [], 'no heartbeating instance went critical');
    abort.abort();
    await watching;
    process.stdout.write(`# leader kill: ${acknowledged.length} registrations acknowledged, ${refused.length} refused during the election, ${heartbeatFailures.length} heartbeat failures\n`);

    await cluster.restart(killed);
  });

  it('without etcd quorum: unhealthy status, reads still served, writes refused with a coded 503; recovers by itself', async () => {
    const client = adminClient(a.url);
    await client.register('quorum', 'q-1', { address: '127.0.0.1', port: 9001 });
    const [first, second] = cluster.members;
    await cluster.kill(first);
    await cluster.kill(second);

    await waitFor('/v1/status to report the store unavailable', async () => (await api(`${a.url}/v1/status`)).status === 503, { timeoutMs: 15_000 });
    const status = await api(`${a.url}/v1/status`);
    assert.equal(status.json.error.code, ErrorCodes.STORE_UNAVAILABLE);
    assert.equal((await api(`${a.url}/healthz`)).status, 503);

    const read = await api<{ instances: Array<{ id: string }> }>(`${a.url}/v1/services/quorum/instances`);
    assert.equal(read.status, 200, 'reads are served from the surviving member');
    assert.deepEqual(read.json.instances.map((i) => i.id), ['q-1']);

    const write = await api<ApiErrorBody>(`${a.url}/v1/services/quorum/instances/q-2`, 'PUT', { address: '127.0.0.1', port: 9002 });
    assert.equal(write.status, 503);
    assert.equal(write.json.error.code, ErrorCodes.STORE_UNAVAILABLE);
    assert.match(write.json.error.message, /etcd/);

    await cluster.restart(first, second);
    await waitFor('/v1/status to recover', async () => (await api(`${a.url}/v1/status`)).status === 200, { timeoutMs: 20_000 });
    await waitFor('writes to be accepted again', async () => {
      await client.register('quorum', 'q-2', { address: '127.0.0.1', port: 9002 });
      return true;
    }, { timeoutMs: 20_000 });
    assert.deepEqual((await adminClient(b.url).instances('quorum')).instances.map((i) => i.id), ['q-1', 'q-2']);
  });

  it('starts against an etcd cluster that is down: one clear line, retries, and comes up when etcd does', async () => {
    for (const member of cluster.members) await cluster.kill(member);
    const child = spawn(process.execPath, [CLI, 'server', '--store', cluster.url, '--etcd-prefix', '/late', '--data-dir', dir.path, '--listen', '127.0.0.1:0', '--dns', 'off'], { stdio: ['ignore', 'pipe', 'pipe'] });
    own.push(child);
    let output = '';
    child.stdout?.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { output += d.toString(); });
    await waitFor('the unreachable-etcd line', () => /etcd is unreachable at .*retrying with back-off/.test(output), { timeoutMs: 15_000 });
    assert.equal(child.exitCode, null, `the server must not exit:\n${output}`);
    assert.equal((output.match(/etcd is unreachable/g) ?? []).length, 1, 'one line, not one per attempt');

    await cluster.restart(...cluster.members);
    const ready = await waitFor('the control plane to become ready', () => /"msg":"control plane ready"/.test(output) && output, { timeoutMs: 30_000 });
    const url = /"api":"(http:[^"]+)"/.exec(ready)?.[1];
    assert.ok(url, ready);
    assert.equal((await api(`${url}/v1/status`)).status, 200);
  });
});
