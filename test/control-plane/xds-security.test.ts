/**
 * Proxyless gRPC security over xDS: mutual TLS per gRFC A29 and RBAC per gRFC A41, with real
 * @grpc/grpc-js-xds clients and servers. `trellis server --xds --xds-mtls strict`; two
 * `trellis identity` agents keep the certificates of caller and my-service in directories
 * (short lifetimes, so the test sees renewals); the bootstraps name them for the file-watcher
 * provider; my-service is an xDS server (`XdsServer`, xDS server credentials) that serves once
 * it has its inbound listener. The server sees the caller's SPIFFE ID; a deny policy for
 * caller turns its calls into PERMISSION_DENIED, and deleting it lets them through again.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, adminApi, killAll, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminToken, mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { calls, describeCalls, killXdsProcs, spawnFixture, spawnNode, type Proc } from '../helpers/xds.js';

const SERVICE = 'my-service';
const CALLER_ID = 'spiffe://trellis.local/ns/default/svc/caller';
const PERMISSION_DENIED = 7;

describe('proxyless gRPC with mTLS (A29, trellis identity) and RBAC (A41)', () => {
  const data = tempDir('xds-security');
  let server: ServerProcess;
  let client: Proc;
  const dirs = { caller: '', server: '' };

  /** A failed wait, with what explains it: the process's last lines and the NACKs the control plane logged. */
  const explain = (proc: Proc) => (err: unknown): never => {
    const nacks = server.output().split('\n').filter((l) => l.includes('NACK'));
    throw new Error(`${String(err)}\nlast lines: ${proc.lines.slice(-5).join('\n')}\nNACKs: ${nacks.join('\n') || 'none'}`);
  };

  before(async () => {
    server = await startServer(join(data.path, 'cp'), ['--xds', '127.0.0.1:0', '--xds-mtls', 'strict', '--log-level', 'info']);
    await waitFor('the xds address in the ready line', () => /"xds":"([^"]+)"/.exec(server.output())?.[1]);
    const bootstraps = { caller: join(data.path, 'caller.json'), server: join(data.path, 'server.json') };
    for (const [role, service] of [['caller', 'caller'], ['server', SERVICE]] as const) {
      dirs[role] = join(data.path, `certs-${role}`);
      const token = await mintToken(server.url, service);
      spawnNode([CLI, 'identity', '--service', service, '--dir', dirs[role], '--lifetime', '6s', '--control-plane', server.url], { TRELLIS_TOKEN: token });
      const written = await runCli(['xds', 'bootstrap', '--service', service, '--control-plane', server.url, '--cert-dir', dirs[role], '--cert-refresh', '1s', '--out', bootstraps[role]], { TRELLIS_TOKEN: token });
      assert.equal(written.code, 0, written.stderr);
    }
    await waitFor('both certificate directories written', () => Object.values(dirs).every((d) => existsSync(join(d, 'ca.pem'))), { timeoutMs: 15_000 });
    const backend = spawnFixture('xds-backend.js', {
      CP: server.url, TOKEN: adminToken(server.url)!, SERVICE, ID: 'secure-1', XDS: '1', MTLS: '1',
      GRPC_XDS_BOOTSTRAP: bootstraps.server, GRPC_XDS_EXPERIMENTAL_RBAC: 'true',
    });
    await waitFor('the xDS server ready', () => backend.lines.find((l) => l.includes('"ready"')), { timeoutMs: 20_000 }).catch(explain(backend));
    client = spawnFixture('xds-client.js', { GRPC_XDS_BOOTSTRAP: bootstraps.caller, TARGET: SERVICE, MTLS: '1' });
  });

  after(async () => {
    killXdsProcs();
    killAll();
    await server?.kill();
    data.remove();
  });

  it('trellis identity without a join token says how to make one', async () => {
    const refused = await runCli(['identity', '--service', 'caller', '--dir', join(data.path, 'unused'), '--control-plane', server.url], { TRELLIS_TOKEN: '' });
    assert.notEqual(refused.code, 0, 'trellis identity started without a token');
    assert.match(refused.stderr, /TRELLIS_ERR_BAD_FLAG/, refused.stderr);
    assert.match(refused.stderr, /trellis token create --service caller/, refused.stderr);
    assert.ok(!existsSync(join(data.path, 'unused')), 'a directory was made without a certificate');
  });

  it('trellis identity keeps the key readable by its owner only', () => {
    assert.equal(statSync(join(dirs.caller, 'key.pem')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(dirs.caller, 'cert.pem'), 'utf8'), /BEGIN CERTIFICATE/);
  });

  it('calls go over mTLS: the server sees the caller\'s SPIFFE ID', async () => {
    const start = Date.now();
    const ok = await waitFor('20 calls answered', () => {
      const list = calls(client, start).filter((c) => c.code === 0);
      return list.length >= 20 ? list : undefined;
    }, { timeoutMs: 30_000 });
    assert.ok(ok.every((c) => c.peer === CALLER_ID), `the server saw another identity than ${CALLER_ID}: ${JSON.stringify([...new Set(ok.map((c) => c.peer))])}`);
  });

  it('certificates renew on disk and calls go on across renewals', async () => {
    const first = readFileSync(join(dirs.server, 'cert.pem'), 'utf8');
    await waitFor('a renewed server certificate', () => readFileSync(join(dirs.server, 'cert.pem'), 'utf8') !== first, { timeoutMs: 20_000 });
    // Past the first certificates' 6 s life: calls still succeed with the renewed ones.
    const since = Date.now() + 6_000;
    await waitFor('calls after the first certificates expired', () => calls(client, since).length >= 20, { timeoutMs: 30_000 });
    const late = calls(client, since);
    assert.equal(late.filter((c) => c.code !== 0).length, 0, `calls failed after a renewal: ${describeCalls(late)}`);
  });

  it('a deny policy for the caller gives PERMISSION_DENIED; deleting it lets calls through', async () => {
    const put = await adminApi(`${server.url}/v1/policies/no-caller`, 'PUT', { service: SERVICE, rules: [{ action: 'deny', from: ['caller'] }] });
    assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.json));
    const deniedAt = Date.now();
    const denied = await waitFor('a denied call', () => calls(client, deniedAt).find((c) => c.code === PERMISSION_DENIED), { timeoutMs: 10_000 }).catch(explain(client));
    assert.ok(denied.at - deniedAt < 5_000, `the deny took ${denied.at - deniedAt} ms to apply`);
    const settled = denied.at + 500;
    await waitFor('10 calls after the deny applied', () => calls(client, settled).length >= 10, { timeoutMs: 10_000 });
    const after = calls(client, settled);
    assert.ok(after.every((c) => c.code === PERMISSION_DENIED), `calls were not all denied once the policy applied: ${describeCalls(after)}`);
    const deleted = await adminApi(`${server.url}/v1/policies/no-caller`, 'DELETE');
    assert.equal(deleted.status, 200, JSON.stringify(deleted.json));
    const allowedAt = Date.now();
    await waitFor('calls answered again', () => calls(client, allowedAt).some((c) => c.code === 0), { timeoutMs: 10_000 });
  });
});
