/**
 * etcd over TLS with client certificates (--client-cert-auth): `trellis server --etcd-ca
 * --etcd-cert --etcd-key` serves. Certificates are made with openssl for this run.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminClient } from '../helpers/tokens.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.js';
import { killAll, startServer, tempDir } from '../helpers/processes.js';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

/** A CA and one certificate for 127.0.0.1 usable by server and client (ECDSA P-256). */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=trellis-test-ca'], dir);
  openssl(['req', ...ec, '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=127.0.0.1'], dir);
  writeFileSync(join(dir, 'node.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  openssl(['x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'node.pem', '-days', '1', '-extfile', 'node.ext'], dir);
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'node.pem'), key: join(dir, 'node.key') };
}

describe('etcd over TLS with client certificates', () => {
  const dir = tempDir('etcd-tls');
  let cluster: EtcdCluster;
  let files: { ca: string; cert: string; key: string };

  before(async () => {
    files = makeCertificates(dir.path);
    cluster = await startEtcdCluster({ tls: { ...files, clientCertAuth: true } });
  });

  after(async () => {
    killAll();
    await cluster?.stop();
    dir.remove();
  });

  it('serves with --etcd-ca, --etcd-cert and --etcd-key', async () => {
    assert.ok(cluster.members.every((m) => m.clientUrl.startsWith('https://')));
    const server = await startServer(dir.path, ['--store', cluster.url, '--etcd-ca', files.ca, '--etcd-cert', files.cert, '--etcd-key', files.key]);
    const client = adminClient(server.url);
    await client.register('tls', 't-1', { address: '127.0.0.1', port: 9001 });
    assert.deepEqual((await client.instances('tls')).instances.map((i) => i.id), ['t-1']);
    assert.equal((await client.status()).store['backend'], 'etcd');
  });
});
