/**
 * Two control-plane replicas with their own data dirs, started at the same moment on one etcd
 * cluster, end up with one CA and one admin token: the root made by whichever won the race,
 * its key shared through the store, so a sidecar's certificate request succeeds on either
 * replica, and a root rotation started on one is seen by the other. The root keys are in etcd
 * only wrapped with the replicas' shared key-encryption key; a replica with another KEK refuses
 * to start (TRELLIS_ERR_CA_KEK).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.js';
import { openEtcdStore, parseEtcdUrl } from '../../src/store/etcd/index.js';
import { api, killAll, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminHeaders, mintNewToken } from '../helpers/tokens.js';
import { opensslCsr, run, sign } from '../security/helpers.js';

interface Bundle { trustDomain: string; roots: string[] }

describe('one CA shared by control-plane replicas on etcd', () => {
  const dir = tempDir('etcd-shared-ca');
  let cluster: EtcdCluster;
  let first: ServerProcess;
  let second: ServerProcess;
  /** The replica that made the admin token (its data dir has the file), and the other. */
  let maker: ServerProcess;
  let other: ServerProcess;

  const bundle = async (server: ServerProcess): Promise<string[]> => (await api<Bundle>(`${server.url}/v1/ca/bundle`)).json.roots;

  before(async () => {
    cluster = await startEtcdCluster();
    const args = ['--store', cluster.url, '--etcd-prefix', '/shared-ca', '--dns', 'off'];
    [first, second] = await Promise.all([startServer(join(dir.path, 'one'), args), startServer(join(dir.path, 'two'), args)]);
    const made = [existsSync(join(dir.path, 'one', 'admin-token')), existsSync(join(dir.path, 'two', 'admin-token'))];
    assert.equal(made.filter(Boolean).length, 1, `exactly one replica makes the admin token (made: ${JSON.stringify(made)})`);
    [maker, other] = made[0] === true ? [first, second] : [second, first];
  });

  after(async () => {
    killAll();
    await cluster?.stop();
    dir.remove();
  });

  it('trusts the same single root on both replicas', async () => {
    const roots = await bundle(first);
    assert.equal(roots.length, 1);
    assert.deepEqual(await bundle(second), roots);
  });

  it('signs on the replica that did not make the root, with a join token minted on the other', async () => {
    const { csr } = await opensslCsr(dir.path, 'shop', 'spiffe://trellis.local/ns/default/svc/shop');
    const answer = await sign(other.url, readFileSync(csr, 'utf8'), await mintNewToken(maker.url, 'shop'), '1h');
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const cert = join(dir.path, 'shop.crt');
    const roots = join(dir.path, 'roots.crt');
    writeFileSync(cert, answer.body.certificate ?? '');
    writeFileSync(roots, (await bundle(maker)).join(''));
    const verified = await run('openssl', ['verify', '-CAfile', roots, cert]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /: OK/);
  });

  it('accepts the admin token on both replicas, and shows a rotation started on one on the other', async () => {
    const rotated = await api(`${other.url}/v1/ca/rotate`, 'POST', {}, adminHeaders(maker.url));
    assert.equal(rotated.status, 200, JSON.stringify(rotated.json));
    assert.equal((await bundle(maker)).length, 2, 'the new root is trusted on the replica that did not rotate');
    assert.deepEqual(await bundle(other), await bundle(maker));
  });

  it('keeps the root keys in etcd only wrapped (no PEM), and a replica with another KEK refuses to start', async () => {
    const store = await openEtcdStore({ endpoints: parseEtcdUrl(cluster.url), prefix: '/shared-ca' });
    try {
      const { kvs } = await store.range('/ca/keys/');
      assert.equal(kvs.length, 2, 'both roots since the rotation');
      for (const kv of kvs) {
        assert.match(kv.value, /^\{"wrapped":"A256GCM","kek":"[0-9a-f]{16}"/);
        assert.doesNotMatch(kv.value, /BEGIN|PRIVATE KEY/);
      }
    } finally {
      await store.close();
    }
    const stranger = await runCli(['server', '--store', cluster.url, '--etcd-prefix', '/shared-ca', '--data-dir', join(dir.path, 'three'), '--listen', '127.0.0.1:0', '--dns', 'off'],
      { TRELLIS_CA_KEK: Buffer.alloc(32, 1).toString('base64') });
    assert.equal(stranger.code, 1, stranger.stderr);
    assert.match(stranger.stderr, /TRELLIS_ERR_CA_KEK/);
    assert.match(stranger.stderr, /give every control plane on this store the same KEK/);
  });
});
