/**
 * Trust domains (issue 20, item 2): a certificate for `spiffe://evil.example/ns/default/svc/caller`
 * signed by the mesh's own trusted root (as anyone holding the root key could mint) is refused at
 * the inbound handshake (curl, openssl s_client) and by policy (`policy check`, the engine), while
 * `spiffe://trellis.local/…/svc/caller` passes the same deny-all-but-caller policy. The calling side
 * refuses a peer of another trust domain. A trust domain federated with `--federated-trust-domains`
 * gets through the handshake, and then only policies naming its full SPIFFE ID let it in.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { api, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminClient } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, send, sidecar, startApp, tearDown, url, type App } from '../proxy/helpers.js';
import { capturingLogger, curlTls, meshCertificate, opensslCsr, run, type CertificateFiles } from './helpers.js';

const EVIL_CALLER = 'spiffe://evil.example/ns/default/svc/caller';

/** A leaf for `spiffeId` signed by the control plane's own root, with the root key from its data dir (what a stolen key allows). */
async function mintedWithRootKey(controlPlane: string, dataDir: string, dir: string, name: string, spiffeId: string): Promise<CertificateFiles> {
  const bundle = (await api<{ roots: string[] }>(`${controlPlane}/v1/ca/bundle`)).json;
  const rootCert = join(dir, `${name}-root.crt`);
  writeFileSync(rootCert, bundle.roots[0] ?? '');
  const keyFile = readdirSync(join(dataDir, 'ca')).find((f) => f.endsWith('.key'));
  const rootKey = join(dataDir, 'ca', keyFile ?? 'missing');
  const { key, csr } = await opensslCsr(dir, name, spiffeId);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=URI:${spiffeId}\nextendedKeyUsage=clientAuth,serverAuth\nbasicConstraints=CA:FALSE\n`);
  const cert = join(dir, `${name}.crt`);
  const signed = await run('openssl', ['x509', '-req', '-in', csr, '-CA', rootCert, '-CAkey', rootKey, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', ext]);
  if (signed.code !== 0) throw new Error(`openssl x509 failed: ${signed.stderr}`);
  const verified = await run('openssl', ['verify', '-CAfile', rootCert, cert]);
  assert.equal(verified.code, 0, `the forged leaf chains to the trusted root: ${verified.stdout}${verified.stderr}`);
  return { cert, key };
}

const onlyCaller = { service: 'backend', default: 'deny', rules: [{ name: 'caller', action: 'allow', from: ['caller'] }] };

describe('trust domains', () => {
  const dir = tempDir('trust-domain');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  const logs = capturingLogger('debug');
  let server: ServerProcess;
  let backend: Sidecar;
  let port: number;
  let evil: CertificateFiles;
  let fake: TlsServer | undefined;

  const refusals = (side: Sidecar, reason: string): number => side.status().mtls?.inboundFailures[reason] ?? 0;

  before(async () => {
    server = await startServer(join(dir.path, 'data'), ['--dns', 'off']);
    assert.equal((await api(`${server.url}/v1/policies/only-caller`, 'PUT', onlyCaller)).status, 201);
    const app = await startApp('backend');
    apps.push(app);
    backend = await sidecar({ service: 'backend', id: 'backend-1', controlPlane: server.url, app: { port: app.port, health: { interval: '200ms' } } }, logs.logger);
    sidecars.push(backend);
    await waitFor('the policy at backend', () => backend.status().authorization?.policies.includes('only-caller'));
    assert.ok(backend.inbound !== undefined);
    port = backend.inbound.port;
    evil = await mintedWithRootKey(server.url, join(dir.path, 'data'), dir.path, 'evil-caller', EVIL_CALLER);
  });

  after(async () => {
    fake?.close();
    await tearDown(dir, sidecars, apps);
  });

  it('the mesh\'s own caller passes the deny-all-but-caller policy; another service gets 403', async () => {
    const caller = await meshCertificate(server.url, dir.path, 'caller');
    const ok = await curlTls(port, '/hello', caller);
    assert.equal(ok.stdout, 'backend\n200', ok.stderr);
    const other = await meshCertificate(server.url, dir.path, 'other');
    assert.match((await curlTls(port, '/hello', other)).stdout, /\n403$/);
  });

  it('a certificate from the trusted root for spiffe://evil.example/…/svc/caller is refused at the handshake (curl, openssl s_client)', async () => {
    const before = refusals(backend, 'trust-domain');
    const curl = await curlTls(port, '/hello', evil);
    assert.notEqual(curl.code, 0, `curl got an answer: ${curl.stdout}`);
    assert.doesNotMatch(curl.stdout, /\n(200|403)$/, 'no HTTP answer at all');
    const openssl = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-cert', evil.cert, '-key', evil.key, '-ign_eof', '-quiet'],
      { input: 'GET /hello HTTP/1.1\r\nHost: backend\r\n\r\n' });
    assert.doesNotMatch(openssl.stdout, /HTTP\/1\.1/, 'openssl s_client got no HTTP answer');
    await waitFor('both refusals counted', () => refusals(backend, 'trust-domain') >= before + 2);
    const line = logs.lines().find((l) => /refused by mTLS: trust-domain/.test(String(l['msg'])));
    assert.match(String(line?.['detail']), /spiffe:\/\/evil\.example\/ns\/default\/svc\/caller: trust domain evil\.example is not this mesh's \(trellis\.local\) and none is federated/);
    assert.equal(backend.status().authorization?.allowed !== undefined, true);
  });

  it('and by policy: `trellis policy check` and POST /v1/policies/check deny it, naming the trust domain', async () => {
    const check = await api<{ decision: { allowed: boolean; by: { kind: string; trustDomain?: string }; explanation: string } }>(`${server.url}/v1/policies/check`, 'POST', { from: EVIL_CALLER, to: 'backend' });
    assert.equal(check.status, 200);
    assert.equal(check.json.decision.allowed, false);
    assert.deepEqual(check.json.decision.by, { kind: 'trust-domain', trustDomain: 'evil.example' });
    const ours = await api<{ decision: { allowed: boolean } }>(`${server.url}/v1/policies/check`, 'POST', { from: 'caller', to: 'backend' });
    assert.equal(ours.json.decision.allowed, true);
    const cli = await runCli(['policy', 'check', '--from', EVIL_CALLER, '--to', 'backend', '--control-plane', server.url]);
    assert.equal(cli.code, 3, cli.stdout + cli.stderr);
    assert.match(cli.stdout, /DENIED/);
    assert.match(cli.stdout, /decided by:\s+the caller's trust domain evil\.example \(not this mesh's, not federated\)/);
  });

  it('the calling side refuses a peer of another trust domain (server verification)', async () => {
    // An "instance" of backend whose TLS server presents spiffe://evil.example/ns/default/svc/backend, signed by the trusted root.
    const evilBackend = await mintedWithRootKey(server.url, join(dir.path, 'data'), dir.path, 'evil-backend', 'spiffe://evil.example/ns/default/svc/backend');
    const tlsServer = createTlsServer({ cert: readFileSync(evilBackend.cert), key: readFileSync(evilBackend.key), minVersion: 'TLSv1.3' }, (socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nevil'));
    fake = tlsServer;
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    const address = tlsServer.address();
    const fakePort = typeof address === 'object' && address !== null ? address.port : 0;
    await adminClient(server.url).register('vault', 'vault-impostor', { address: '127.0.0.1', port: fakePort, ttl: 60_000 });
    const client = await sidecar({ service: 'client', controlPlane: server.url, upstreams: [{ service: 'vault', retry: { maxAttempts: 1 } }] });
    sidecars.push(client);
    await endpointsReached(client, 'vault', 1);
    const answer = await send(url(client.outbound, '/'), { headers: { host: 'vault' } });
    assert.equal(answer.status, 502);
    assert.notEqual(answer.body, 'evil');
    assert.match(answer.body, /the peer is spiffe:\/\/evil\.example\/ns\/default\/svc\/backend, not spiffe:\/\/trellis\.local\/ns\/default\/svc\/vault/);
  });

  it('a federated trust domain passes the handshake; then only a policy naming its full SPIFFE ID lets it in', async () => {
    const dataDir = join(dir.path, 'federated');
    const federated = await startServer(dataDir, ['--dns', 'off', '--federated-trust-domains', 'evil.example']);
    const bundle = (await api<{ federatedTrustDomains?: string[] }>(`${federated.url}/v1/ca/bundle`)).json;
    assert.deepEqual(bundle.federatedTrustDomains, ['evil.example']);
    assert.equal((await api(`${federated.url}/v1/policies/only-caller`, 'PUT', onlyCaller)).status, 201);
    const app = await startApp('partnered');
    apps.push(app);
    const b = await sidecar({ service: 'backend', id: 'backend-f', controlPlane: federated.url, app: { port: app.port, health: { interval: '200ms' } } });
    sidecars.push(b);
    await waitFor('the policy at backend', () => b.status().authorization?.policies.includes('only-caller'));
    assert.ok(b.inbound !== undefined);
    const partner = await mintedWithRootKey(federated.url, dataDir, dir.path, 'partner-caller', EVIL_CALLER);
    const denied = await curlTls(b.inbound.port, '/x', partner);
    assert.match(denied.stdout, /\n403$/, `the handshake passes, \`from: [caller]\` does not match a federated caller: ${denied.stdout}${denied.stderr}`);
    assert.equal(refusals(b, 'trust-domain'), 0);
    const byId = { service: 'backend', default: 'deny', rules: [{ action: 'allow', from: [EVIL_CALLER] }] };
    assert.equal((await api(`${federated.url}/v1/policies/only-caller`, 'PUT', byId)).status, 200);
    await waitFor('the partner let in by its SPIFFE ID', async () => (await curlTls(b.inbound!.port, '/x', partner)).stdout === 'partnered\n200', { timeoutMs: 10_000 });
    await federated.kill();
  });
});
