/**
 * The etcd store on a real 3-member etcd cluster: the shared KvStore contract (the same suite
 * the embedded store passes), then what only a cluster has — the namespace prefix, a leader
 * killed under writes, and an unreachable cluster at start-up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ErrorCodes } from '../../src/errors.js';
import { openEtcdStore, parseEtcdUrl, type EtcdStore } from '../../src/store/etcd/index.js';
import { freePorts } from '../../src/run/free-port.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.js';
import { runCli } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { rejectsWith, storeContract } from './contract.js';

let cluster: EtcdCluster;
before(async () => { cluster = await startEtcdCluster(); });
after(async () => { await cluster?.stop(); });

let stores = 0;
/** Each store gets a namespace of its own on the shared cluster. */
async function openFresh(prefix = `/test-${process.pid}-${(stores += 1)}`): Promise<EtcdStore> {
  return openEtcdStore({ endpoints: parseEtcdUrl(cluster.url), prefix });
}

storeContract('etcd', async () => {
  const store = await openFresh();
  return { store, close: () => store.close() };
});

describe('etcd store: a cluster', () => {
  it('keeps every key under its namespace prefix, invisible to another namespace', async () => {
    const a = await openFresh('/ns-a');
    const b = await openFresh('/ns-b');
    try {
      await a.put('/services/x', 'from a');
      assert.equal((await b.get('/services/x')).kv, undefined);
      assert.deepEqual((await a.range('/')).kvs.map((kv) => kv.key), ['/services/x']);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('keeps acknowledged writes and leases when the leader is killed under a stream of writes', async () => {
    const store = await openFresh();
    const lease = await store.grantLease(3_000);
    const acknowledged = new Map<string, number>();
    let failures = 0;
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i += 1) {
        try {
          const { revision } = await store.put(`/stream/${i}`, String(i), i % 2 === 0 ? { lease: lease.id } : {});
          acknowledged.set(`/stream/${i}`, revision);
          await store.keepAlive(lease.id);
        } catch {
          failures += 1;
        }
      }
    })();
    await waitFor('50 acknowledged writes', () => acknowledged.size >= 50, { timeoutMs: 20_000 });
    await cluster.killLeader();
    const atKill = acknowledged.size;
    await waitFor('50 more after the election', () => acknowledged.size >= atKill + 50, { timeoutMs: 20_000 });
    stop = true;
    await writer;
    const { kvs } = await store.range('/stream/');
    const stored = new Map(kvs.map((kv) => [kv.key, kv.modRevision]));
    for (const [key, revision] of acknowledged) assert.equal(stored.get(key), revision, `acknowledged ${key} kept`);
    assert.ok((await store.leaseInfo(lease.id)) !== undefined, 'the kept-alive lease survived the election');
    assert.ok(failures < 50, `${failures} failed writes during the election`);
    await store.close();
  });

  it('waits for an unreachable cluster with back-off instead of failing, and says so', async () => {
    const [port] = await freePorts(1);
    const abort = new AbortController();
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => { lines.push((JSON.parse(line) as { msg: string }).msg); } });
    const opening = openEtcdStore({ endpoints: [`127.0.0.1:${port}`], callTimeoutMs: 300 }, { logger, signal: abort.signal, maxBackoffMs: 200 });
    const settled = opening.then(() => 'open', () => 'rejected');
    try {
      await waitFor('a few attempts', () => lines.length >= 3);
      assert.match(lines[0] ?? '', /etcd is unreachable at 127\.0\.0\.1:\d+; retrying/);
      assert.equal(lines.filter((l) => l.includes('etcd is unreachable')).length, 1, 'one warning, then quiet retries');
      assert.equal(await Promise.race([settled, new Promise((r) => setTimeout(r, 500, 'pending'))]), 'pending');
    } finally {
      abort.abort();
    }
    await rejectsWith(opening, ErrorCodes.STORE_UNAVAILABLE);
  });
});

describe('etcd store: flags', () => {
  it('names the flag and the fix for a bad --store, --etcd-user without a password, and a missing CA file', async () => {
    const cases: Array<{ args: string[]; env?: Record<string, string>; match: RegExp }> = [
      { args: ['server', '--store', 'etcd://'], match: /--store "etcd:\/\/": it names no etcd member; use etcd:\/\/host1:2379/ },
      { args: ['server', '--store', 'etcd://h1:2379,nonsense'], match: /"nonsense" is not host:port/ },
      { args: ['server', '--store', 'consul://h:8500'], match: /use "embedded" \(SQLite in --data-dir\) or etcd:\/\// },
      { args: ['server', '--store', cluster.url, '--etcd-user', 'root'], env: { TRELLIS_ETCD_PASSWORD: '' }, match: /--etcd-user needs its password in the environment: set TRELLIS_ETCD_PASSWORD/ },
      { args: ['server', '--store', cluster.url, '--etcd-ca', '/nonexistent/ca.pem', '--listen', '127.0.0.1:0', '--dns', 'off'], match: /--etcd-ca \/nonexistent\/ca.pem: cannot read it/ },
    ];
    for (const c of cases) {
      const result = await runCli(c.args, c.env);
      assert.equal(result.code, 1, `${c.args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, c.match);
      assert.match(result.stderr, /TRELLIS_ERR_BAD_FLAG/);
    }
  });
});
