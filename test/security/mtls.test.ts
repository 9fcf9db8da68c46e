/**
 * Mutual TLS at a sidecar's inbound port, with real clients (openssl s_client, curl): no
 * client certificate, a certificate from another CA, an expired one, plaintext and TLS 1.2
 * are refused — each with its own log line and counter, while mesh traffic carries on
 * untouched — and a mesh certificate is accepted, its SPIFFE ID in the access log. The
 * calling side checks that the peer is the service it meant to call.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import { adminClient } from '../helpers/tokens.js';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, send, sidecar, startApp, tearDown, url, type App } from '../proxy/helpers.js';
import { capturingLogger, curlTls, foreignCertificate, meshCertificate, run, type CertificateFiles } from './helpers.js';

describe('mutual TLS at the inbound port', () => {
  const dir = tempDir('mtls');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  const logs = capturingLogger('debug');
  const accessLog = join(dir.path, 'b-access.log');
  /** b's access log (JSON lines): the caller's SPIFFE ID is `clientId`. */
  const accessLines = (): Array<Record<string, unknown>> => (existsSync(accessLog)
    ? readFileSync(accessLog, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) : []);
  let server: ServerProcess;
  let b: Sidecar;
  let caller: Sidecar;
  let port: number;
  let mesh: CertificateFiles;
  /** Mesh traffic (caller → b) kept running through every refusal. */
  let traffic: { stop(): Promise<{ ok: number; failed: string[] }> };

  const refusals = (reason: string): number => b.status().mtls?.inboundFailures[reason] ?? 0;
  const logLine = (pattern: RegExp): Record<string, unknown> | undefined => logs.lines().find((l) => pattern.test(String(l['msg'])));

  before(async () => {
    server = await startServer(dir.path, ['--dns', 'off']);
    const app = await startApp('b');
    apps.push(app);
    b = await sidecar({ service: 'b', id: 'b-1', controlPlane: server.url, app: { port: app.port, health: { interval: '200ms' } }, telemetry: { accessLog } }, logs.logger);
    sidecars.push(b);
    caller = await sidecar({ service: 'a', controlPlane: server.url, upstreams: ['b'] });
    sidecars.push(caller);
    await endpointsReached(caller, 'b', 1);
    assert.ok(b.inbound !== undefined);
    port = b.inbound.port;
    mesh = await meshCertificate(server.url, dir.path, 'c');

    const pool = new Pool(url(caller.outbound), { connections: 4 });
    let running = true;
    let ok = 0;
    const failed: string[] = [];
    const loop = (async () => {
      while (running) {
        const answer = await send(url(caller.outbound, '/steady'), { headers: { host: 'b' }, dispatcher: pool }).catch((err: Error) => ({ status: 0, body: err.message }));
        if (answer.status === 200 && answer.body === 'b') ok += 1;
        else failed.push(`${answer.status} ${answer.body}`);
        await new Promise((resolve) => setTimeout(resolve, 10)); // steady, not flat out: the sidecars share this event loop
      }
    })();
    traffic = { stop: async () => { running = false; await loop; await pool.close(); return { ok, failed }; } };
  });

  after(() => tearDown(dir, sidecars, apps));

  it('the caller reaches b over mutual TLS and b logs the caller\'s SPIFFE ID', async () => {
    const answer = await send(url(caller.outbound, '/hello'), { headers: { host: 'b' } });
    assert.equal(answer.status, 200);
    const line = await waitFor('the access log line', () => accessLines().find((l) => l['direction'] === 'inbound' && l['path'] === '/hello'));
    assert.equal(line['clientId'], 'spiffe://trellis.local/ns/default/svc/a');
    assert.equal(line['peer'], 'a');
    assert.equal(b.status().mtls?.mode, 'strict');
    assert.equal(b.status().mtls?.spiffeId, 'spiffe://trellis.local/ns/default/svc/b');
  });

  it('openssl s_client without a client certificate: refused, no HTTP answer', async () => {
    const before = refusals('no-certificate');
    const result = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-ign_eof', '-quiet'], { input: 'GET / HTTP/1.1\r\nHost: b\r\n\r\n' });
    assert.doesNotMatch(result.stdout, /HTTP\/1\.1/);
    await waitFor('the refusal counted', () => refusals('no-certificate') === before + 1);
    assert.match(String(logLine(/refused by mTLS: no-certificate/)?.['detail']), /no certificate/);
  });

  it('curl without a client certificate: refused', async () => {
    const result = await curlTls(port, '/');
    assert.notEqual(result.code, 0, result.stdout);
    assert.doesNotMatch(result.stdout, /\n200$/);
  });

  it('a certificate from another CA (same SPIFFE ID): refused', async () => {
    const foreign = await foreignCertificate(dir.path, 'spiffe://trellis.local/ns/default/svc/c');
    const result = await curlTls(port, '/', foreign);
    assert.notEqual(result.code, 0, result.stdout);
    await waitFor('the refusal counted', () => refusals('untrusted') >= 1);
    assert.match(String(logLine(/refused by mTLS: untrusted/)?.['detail']), /not from this mesh's CA/);
  });

  it('an expired mesh certificate: refused', async () => {
    const short = await meshCertificate(server.url, dir.path, 'c', '1s');
    await waitFor('the certificate to expire', () => Date.now() > short.notAfter.getTime() + 1_000, { timeoutMs: 5_000 });
    const result = await curlTls(port, '/', short);
    assert.notEqual(result.code, 0, result.stdout);
    await waitFor('the refusal counted', () => refusals('expired') >= 1);
    assert.match(String(logLine(/refused by mTLS: expired/)?.['detail']), /expired/);
  });

  it('plaintext to the mTLS port: refused', async () => {
    const result = await run('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${port}/`]);
    assert.notEqual(result.code, 0);
    await waitFor('the refusal counted', () => refusals('plaintext') >= 1);
    assert.ok(logLine(/refused by mTLS: plaintext/));
  });

  it('TLS 1.2: refused (TLS 1.3 only)', async () => {
    const result = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_2', '-cert', mesh.cert, '-key', mesh.key], { input: '' });
    assert.match(result.stdout + result.stderr, /alert protocol version|no protocols available|wrong version/i);
    await waitFor('the refusal counted', () => refusals('protocol') >= 1);
  });

  it('a mesh certificate: accepted, and the caller\'s SPIFFE ID is in the access log', async () => {
    const result = await curlTls(port, '/from-curl', mesh);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'b\n200');
    const line = await waitFor('the access log line', () => accessLines().find((l) => l['direction'] === 'inbound' && l['path'] === '/from-curl'));
    assert.equal(line['clientId'], 'spiffe://trellis.local/ns/default/svc/c');
    assert.equal(line['status'], 200);
  });

  it('none of the refusals disturbed the mesh traffic', async () => {
    const { ok, failed } = await traffic.stop();
    assert.deepEqual(failed, []);
    assert.ok(ok > 0);
  });

  it('the calling side refuses a peer that is not the service it meant to call', async () => {
    // An instance registered as "pay" whose address is b's sidecar: b presents svc/b, not svc/pay.
    assert.ok(b.inbound !== undefined);
    await adminClient(server.url).register('pay', 'pay-impostor', { address: '127.0.0.1', port: b.inbound.port, ttl: 60_000 });
    const payer = await sidecar({ service: 'payer', controlPlane: server.url, upstreams: [{ service: 'pay', retry: { maxAttempts: 1 } }] });
    sidecars.push(payer);
    await endpointsReached(payer, 'pay', 1);
    const answer = await send(url(payer.outbound, '/'), { headers: { host: 'pay' } });
    assert.equal(answer.status, 502);
    assert.equal(answer.headers['trellis-error'], 'TRELLIS_ERR_UPSTREAM_CONNECT');
    assert.match(answer.body, /spiffe:\/\/trellis\.local\/ns\/default\/svc\/b, not spiffe:\/\/trellis\.local\/ns\/default\/svc\/pay/);
    assert.ok((payer.status().mtls?.outboundFailures['wrong-identity'] ?? 0) >= 1);
  });
});
