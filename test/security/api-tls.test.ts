/**
 * The API over TLS (`trellis server --api-tls-cert --api-tls-key`): curl with --cacert and the
 * CLI with --control-plane-ca / TRELLIS_CONTROL_PLANE_CA get in, over TLS 1.3; TLS 1.1, a
 * plaintext client, no CA and the wrong CA are refused with a clear message; a sidecar given
 * the CA registers through it.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { killAll, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { killSpawned, spawnCli } from '../mesh/spawn.js';
import { startApp, type App } from '../proxy/helpers.js';
import { run } from './helpers.js';

const dir = tempDir('api-tls');
let server: ServerProcess;
let app: App;
const file = (name: string): string => join(dir.path, name);

/** A CA and a certificate for 127.0.0.1 and localhost signed by it, made with openssl as an operator would. */
async function makeCa(name: string): Promise<void> {
  const ok = (r: { code: number; stderr: string }): void => assert.equal(r.code, 0, r.stderr);
  ok(await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file(`${name}-ca.key`), '-out', file(`${name}-ca.pem`), '-days', '1', '-subj', `/CN=${name} test CA`]));
  ok(await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file(`${name}-api.key`), '-out', file(`${name}-api.csr`), '-subj', '/CN=127.0.0.1']));
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ok(await run('openssl', ['x509', '-req', '-in', file(`${name}-api.csr`), '-CA', file(`${name}-ca.pem`), '-CAkey', file(`${name}-ca.key`), '-CAcreateserial', '-out', file(`${name}-api.pem`), '-days', '1', '-extfile', file('san.ext')]));
}

before(async () => {
  await makeCa('good');
  await makeCa('other');
  server = await startServer(join(dir.path, 'data'), ['--api-tls-cert', file('good-api.pem'), '--api-tls-key', file('good-api.key')]);
  app = await startApp('tls-app');
});
after(async () => {
  killSpawned();
  killAll();
  await app.close();
  dir.remove();
});

describe('the API over TLS', () => {
  it('serves https to curl --cacert (a token from a header file, never argv), over TLS 1.3', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const status = await run('curl', ['-sS', '--max-time', '10', '--cacert', file('good-ca.pem'), `${server.url}/v1/status`]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /"version"/);
    writeFileSync(file('auth.header'), `Authorization: Bearer ${adminToken(server.url) ?? ''}\n`, { mode: 0o600 });
    const services = await run('curl', ['-sS', '--max-time', '10', '--cacert', file('good-ca.pem'), '-H', `@${file('auth.header')}`, '-w', '\\n%{http_code}', `${server.url}/v1/services`]);
    assert.equal(services.code, 0, services.stderr);
    assert.match(services.stdout, /"services":\[.*\n200$/s);
    const protocol = await new Promise<string | null>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: Number(new URL(server.url).port), ca: readFileSync(file('good-ca.pem')), servername: 'localhost' }, () => {
        resolve(socket.getProtocol());
        socket.end();
      });
      socket.on('error', reject);
    });
    assert.equal(protocol, 'TLSv1.3');
  });

  it('refuses TLS 1.1, a plaintext client and the wrong CA clearly', async () => {
    const old = await run('curl', ['-sS', '--max-time', '10', '--cacert', file('good-ca.pem'), '--tlsv1.1', '--tls-max', '1.1', `${server.url}/v1/status`]);
    assert.notEqual(old.code, 0, 'TLS 1.1 is refused');
    const plain = await run('curl', ['-sS', '--max-time', '10', server.url.replace('https:', 'http:') + '/v1/status']);
    assert.notEqual(plain.code, 0, 'plaintext HTTP gets no answer');
    const wrongCa = await run('curl', ['-sS', '--max-time', '10', '--cacert', file('other-ca.pem'), `${server.url}/v1/status`]);
    assert.equal(wrongCa.code, 60, wrongCa.stderr);

    const noCa = await runCli(['services', '--control-plane', server.url]);
    assert.equal(noCa.code, 1);
    assert.match(noCa.stderr, /cannot reach the control plane at https:.*(self-signed|unable to verify|certificate).*--control-plane-ca/i);
    const otherCa = await runCli(['services', '--control-plane', server.url], { TRELLIS_CONTROL_PLANE_CA: file('other-ca.pem'), TRELLIS_ADMIN_TOKEN: adminToken(server.url) ?? '' });
    assert.equal(otherCa.code, 1);
    assert.match(otherCa.stderr, /TRELLIS_ERR_CONTROL_PLANE_UNREACHABLE/);
    const plainCli = await runCli(['services', '--control-plane', server.url.replace('https:', 'http:')]);
    assert.equal(plainCli.code, 1);
    assert.match(plainCli.stderr, /a control plane serving TLS needs https:\/\/ and --control-plane-ca/);
    const missingFile = await runCli(['services', '--control-plane', server.url, '--control-plane-ca', file('nope.pem')]);
    assert.match(missingFile.stderr, /--control-plane-ca: cannot read/);
  });

  it('lets the CLI in with --control-plane-ca or TRELLIS_CONTROL_PLANE_CA', async () => {
    const flag = await runCli(['services', '--json', '--control-plane', server.url, '--control-plane-ca', file('good-ca.pem')]);
    assert.equal(flag.code, 0, flag.stderr);
    const envCa = await runCli(['token', 'create', '--read-only', '--control-plane', server.url], { TRELLIS_CONTROL_PLANE_CA: file('good-ca.pem'), TRELLIS_ADMIN_TOKEN: adminToken(server.url) ?? '' });
    assert.equal(envCa.code, 0, envCa.stderr);
    assert.match(envCa.stdout, /^trellis-read\./);
  });

  it('a sidecar given the CA registers, heartbeats and follows the registry through it', async () => {
    const made = await runCli(['token', 'create', '--service', 'tls-app', '--json', '--control-plane', server.url, '--control-plane-ca', file('good-ca.pem')]);
    assert.equal(made.code, 0, made.stderr);
    const proxy = spawnCli(['proxy', '--service', 'tls-app', '--id', 'tls-app-1', '--control-plane', server.url, '--app-port', String(app.port), '--ttl', '1s', '--mtls', 'strict'],
      { env: { TRELLIS_TOKEN: (JSON.parse(made.stdout) as { token: string }).token, TRELLIS_CONTROL_PLANE_CA: file('good-ca.pem') } });
    await proxy.line(/"msg":"sidecar ready"/);
    const listed = await waitFor('the instance to pass', async () => {
      const r = await runCli(['instances', 'tls-app', '--json', '--healthy', '--control-plane', server.url, '--control-plane-ca', file('good-ca.pem')]);
      return r.code === 0 && r.stdout.includes('"tls-app-1"') ? r.stdout : undefined;
    });
    assert.match(listed, /"status": "passing"/);
    proxy.child.kill('SIGTERM');
    assert.equal(await proxy.exited, 0, proxy.output());
  });
});
