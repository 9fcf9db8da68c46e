/**
 * etcd with authentication on: `trellis server --etcd-user` with the password from
 * TRELLIS_ETCD_PASSWORD serves; a wrong password fails at once with a message naming both,
 * rather than being retried as if etcd were down. (A cluster of its own: auth is cluster-wide.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { adminClient } from '../helpers/tokens.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.js';
import { killAll, runCli, startServer, tempDir } from '../helpers/processes.js';

const PASSWORD = 'correct horse battery staple';

describe('etcd with authentication', () => {
  const dir = tempDir('etcd-auth');
  let cluster: EtcdCluster;

  before(async () => {
    cluster = await startEtcdCluster();
    const admin = new Etcd3({ hosts: cluster.members.map((m) => m.clientUrl) });
    try {
      await admin.role('root').create();
      await admin.user('root').create(PASSWORD);
      await admin.user('root').addRole('root');
      await admin.auth.authEnable();
    } finally {
      admin.close();
    }
  });

  after(async () => {
    killAll();
    await cluster?.stop();
    dir.remove();
  });

  it('serves with --etcd-user and the password from TRELLIS_ETCD_PASSWORD', async () => {
    process.env['TRELLIS_ETCD_PASSWORD'] = PASSWORD;
    try {
      const server = await startServer(dir.path, ['--store', cluster.url, '--etcd-user', 'root']);
      const client = adminClient(server.url);
      await client.register('secure', 's-1', { address: '127.0.0.1', port: 9001, ttl: '5s' });
      await client.heartbeat('secure', 's-1');
      assert.deepEqual((await client.instances('secure')).instances.map((i) => [i.id, i.status]), [['s-1', 'passing']]);
      assert.doesNotMatch(server.output(), new RegExp(PASSWORD), 'the password is never logged');
    } finally {
      delete process.env['TRELLIS_ETCD_PASSWORD'];
    }
  });

  it('fails at once, naming the user flag and the variable, when the password is wrong', async () => {
    const started = Date.now();
    const result = await runCli(['server', '--store', cluster.url, '--etcd-user', 'root', '--data-dir', dir.path, '--listen', '127.0.0.1:0', '--dns', 'off'],
      { TRELLIS_ETCD_PASSWORD: 'wrong' });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /etcd at .* refused .*check --etcd-user and TRELLIS_ETCD_PASSWORD/);
    assert.match(result.stderr, /TRELLIS_ERR_STORE_UNAVAILABLE/);
    assert.ok(Date.now() - started < 15_000, 'not retried as if etcd were down');
  });
});
