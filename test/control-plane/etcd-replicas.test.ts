/**
 * Several control-plane replicas on one real 3-member etcd cluster: any replica serves any
 * client, a change made through one is seen by watchers on the other within 100 ms (p99), each
 * active check runs on exactly one replica, and kill -9 of that replica hands the check to
 * another within 5 s. The CLI's client fails over between replica addresses.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { adminClient } from '../helpers/tokens.js';
import type { RegistryEvent } from '../../src/registry/types.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.js';
import { api, killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

interface StatusBody { replica: { id: string; members: Array<{ id: string; url: string }>; checks: number } | null; store: { backend: string } }

describe('control-plane replicas on etcd', () => {
  const dir = tempDir('etcd-replicas');
  let cluster: EtcdCluster;
  let a: ServerProcess;
  let b: ServerProcess;

  const replica = (prefix: string): Promise<ServerProcess> => startServer(`${dir.path}/${prefix}`, [
    '--store', cluster.url, '--etcd-prefix', `/${prefix}`, '--min-check-interval', '100',
  ]);
  const status = async (server: ServerProcess): Promise<StatusBody> => (await api<StatusBody>(`${server.url}/v1/status`)).json;

  before(async () => {
    cluster = await startEtcdCluster();
    [a, b] = await Promise.all([replica('replicas'), replica('replicas')]);
    await waitFor('both replicas to see each other', async () => (await status(a)).replica?.members.length === 2 && (await status(b)).replica?.members.length === 2);
  });

  after(async () => {
    killAll();
    await cluster?.stop();
    dir.remove();
  });

  it('serves writes and reads on every replica, from the one etcd store', async () => {
    assert.equal((await status(a)).store.backend, 'etcd');
    await adminClient(a.url).register('shop', 'shop-1', { address: '127.0.0.1', port: 9001 });
    await adminClient(b.url).register('shop', 'shop-2', { address: '127.0.0.1', port: 9002 });
    for (const server of [a, b]) {
      const { instances } = await adminClient(server.url).instances('shop');
      assert.deepEqual(instances.map((i) => i.id), ['shop-1', 'shop-2']);
    }
  });

  it('shows a change made through one replica to a watcher on the other within 100 ms (p99 of 100)', async () => {
    const writer = adminClient(a.url);
    const seenAt = new Map<string, number>();
    const abort = new AbortController();
    const { revision } = await adminClient(b.url).services();
    const watching = adminClient(b.url).watch({ service: 'latency', after: revision, signal: abort.signal }, (event: RegistryEvent) => {
      if (!seenAt.has(event.id)) seenAt.set(event.id, performance.now());
    }).catch((err: unknown) => err);
    /** From the moment A acknowledged the registration (it is registered) until B's watcher has it. */
    const afterAck: number[] = [];
    /** From before the request to A was sent: includes the registration's own etcd writes. */
    const afterSend: number[] = [];
    try {
      for (let i = 0; i < 100; i += 1) {
        const id = `latency-${i}`;
        const sentAt = performance.now();
        await writer.register('latency', id, { address: '127.0.0.1', port: 10_000 + i });
        const ackedAt = performance.now();
        const seen = await waitFor(`${id} on the other replica`, () => seenAt.get(id), { timeoutMs: 5_000, everyMs: 1 });
        afterAck.push(Math.max(0, seen - ackedAt));
        afterSend.push(seen - sentAt);
      }
    } finally {
      abort.abort();
      await watching;
    }
    const summary = (values: number[]): { p50: number; p99: number; max: number } => {
      const sorted = [...values].sort((x, y) => x - y);
      return { p50: sorted[49] ?? Infinity, p99: sorted[98] ?? Infinity, max: sorted[99] ?? Infinity };
    };
    const acked = summary(afterAck);
    const sent = summary(afterSend);
    process.stdout.write(`# cross-replica watch latency, registered on A → event on B's watcher: p50 ${acked.p50.toFixed(1)} ms, p99 ${acked.p99.toFixed(1)} ms, max ${acked.max.toFixed(1)} ms; `
      + `from sending the request: p50 ${sent.p50.toFixed(1)} ms, p99 ${sent.p99.toFixed(1)} ms\n`);
    assert.ok(acked.p99 < 100, `p99 ${acked.p99.toFixed(1)} ms (p50 ${acked.p50.toFixed(1)} ms)`);
  });

  it('fails the CLI client over to the next replica when the first is down', async () => {
    const down = 'http://127.0.0.1:9'; // discard port: nothing listens there
    const client = adminClient(`${down},${b.url}`);
    await client.register('failover', 'f-1', { address: '127.0.0.1', port: 9100 });
    assert.equal(client.baseUrl, b.url, 'the replica that answered becomes current');
    assert.equal((await client.instances('failover')).instances.length, 1);
  });

  describe('active checks', () => {
    let app: Server;
    let healthStatus = 200;
    before(async () => {
      app = createServer((req, res) => { res.writeHead(req.url === '/healthz' ? healthStatus : 404).end(); });
      await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    });
    after(async () => { await new Promise((r) => app.close(r)); });

    it('runs each check on exactly one replica, and another takes it over within 5 s of kill -9', async () => {
      const client = adminClient(`${a.url},${b.url}`);
      for (let i = 0; i < 6; i += 1) {
        await client.register('checked', `c-${i}`, {
          address: '127.0.0.1',
          port: (app.address() as AddressInfo).port,
          checks: [{ type: 'http', path: '/healthz', interval: '200ms', timeout: '1s', failuresBeforeCritical: 2, successesBeforePassing: 1, initialStatus: 'passing' }],
        });
      }
      const counts = async (): Promise<[number, number]> => [(await status(a)).replica?.checks ?? -1, (await status(b)).replica?.checks ?? -1];
      const [onA, onB] = await waitFor('6 checks shared out between the replicas', async () => {
        const c = await counts();
        return c[0] + c[1] === 6 ? c : undefined;
      });
      process.stdout.write(`# checks per replica: A ${onA}, B ${onB}\n`);

      // Kill -9 the replica that runs the most checks (both, if they share: every one must move).
      const [victim, survivor] = onA >= onB ? [a, b] : [b, a];
      const killedAt = Date.now();
      await victim.kill('SIGKILL');
      await waitFor('the survivor to run all 6 checks', async () => (await status(survivor)).replica?.checks === 6, { timeoutMs: 10_000, everyMs: 50 });
      const takeoverMs = Date.now() - killedAt;
      process.stdout.write(`# check takeover after kill -9: ${takeoverMs} ms\n`);
      assert.ok(takeoverMs < 5_000, `took ${takeoverMs} ms`);

      // The survivor really probes them: a failing app turns every instance critical.
      healthStatus = 500;
      const survivorClient = adminClient(survivor.url);
      await waitFor('every instance critical', async () => (await survivorClient.instances('checked')).instances.every((i) => i.status === 'critical'));
      healthStatus = 200;
    });
  });
});
