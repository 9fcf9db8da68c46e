/**
 * The control plane's CA and join tokens: the root key is mode 0600, a given root is used,
 * and bad requests — a missing, tampered or expired token, a CSR for an identity the token
 * does not allow, a malformed CSR — are each refused with its code, a log line and a
 * counter, while good requests keep being served; no token ever shows up in a log or an
 * answer other than the one that made it.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, killAll, NO_TOKEN, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminEnv, adminHeaders, mintNewToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { foreignCertificate, opensslCsr, run, sign } from './helpers.js';

interface CaView { refused: Record<string, number>; issued: number; roots: Array<{ id: string; fingerprint: string; state: string }> }

describe('the CA and join tokens', () => {
  const dir = tempDir('ca');
  let server: ServerProcess;
  let csrC: string;

  before(async () => {
    server = await startServer(join(dir.path, 'data'), ['--dns', 'off']);
    csrC = readFileSync((await opensslCsr(dir.path, 'c', 'spiffe://trellis.local/ns/default/svc/c')).csr, 'utf8');
  });
  after(() => { killAll(); dir.remove(); });

  const refused = async (code: string): Promise<number> => (await api<CaView>(`${server.url}/v1/ca`)).json.refused[code] ?? 0;

  it('keeps the root key in the data dir with mode 0600', () => {
    const caDir = join(dir.path, 'data', 'ca');
    const keys = readdirSync(caDir).filter((f) => f.endsWith('.key'));
    assert.equal(keys.length, 1);
    assert.equal(statSync(join(caDir, keys[0])).mode & 0o777, 0o600);
    assert.equal(statSync(caDir).mode & 0o077, 0, 'the ca directory is private too');
  });

  it('signs a CSR with a join token for that service: SPIFFE ID in the URI SAN, short-lived, chained to the root', async () => {
    const answer = await sign(server.url, csrC, await mintNewToken(server.url, 'c'), '10m');
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const cert = new X509Certificate(answer.body.certificate ?? '');
    assert.equal(cert.subjectAltName, 'URI:spiffe://trellis.local/ns/default/svc/c');
    const lifetimeMs = Date.parse(cert.validTo) - Date.parse(cert.validFrom);
    assert.ok(lifetimeMs <= 10 * 60_000 + 2_000 && lifetimeMs >= 10 * 60_000 - 2_000, `lifetime ${lifetimeMs}`);
    const root = new X509Certificate(answer.body.trustBundle?.[0] ?? '');
    assert.ok(cert.verify(root.publicKey));
    assert.equal(cert.ca, false);
  });

  it('refuses a request without a token (401 TOKEN_MISSING)', async () => {
    const answer = await sign(server.url, csrC, undefined);
    assert.equal(answer.status, 401);
    assert.equal(answer.body.error?.code, 'TRELLIS_ERR_TOKEN_MISSING');
    assert.ok(await refused('TRELLIS_ERR_TOKEN_MISSING') >= 1);
  });

  it('refuses a tampered token (401 TOKEN_INVALID), logs it without the secret, and counts it', async () => {
    const token = await mintNewToken(server.url, 'c');
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    const tampered = `${token.slice(0, -1)}${last}`;
    const answer = await sign(server.url, csrC, tampered);
    assert.equal(answer.status, 401);
    assert.equal(answer.body.error?.code, 'TRELLIS_ERR_TOKEN_INVALID');
    assert.ok(await refused('TRELLIS_ERR_TOKEN_INVALID') >= 1);
    const line = await waitFor('the refusal log line', () => server.output().split('\n').find((l) => l.includes('certificate request refused') && l.includes('TRELLIS_ERR_TOKEN_INVALID')));
    assert.match(line, /"tokenId":"[0-9a-f]{16}"/);
    const secret = token.split('.')[2];
    assert.ok(!server.output().includes(secret), 'the token secret is not in the log');
    assert.ok(!server.output().includes(tampered.split('.')[2]), 'nor the tampered one');
  });

  it('refuses a CSR for an identity the token does not allow (403 IDENTITY_NOT_ALLOWED)', async () => {
    const answer = await sign(server.url, csrC, await mintNewToken(server.url, 'payments'));
    assert.equal(answer.status, 403);
    assert.equal(answer.body.error?.code, 'TRELLIS_ERR_IDENTITY_NOT_ALLOWED');
    assert.match(answer.body.error?.message ?? '', /allows spiffe:\/\/trellis\.local\/ns\/default\/svc\/payments, not spiffe:\/\/trellis\.local\/ns\/default\/svc\/c/);
    assert.ok(await refused('TRELLIS_ERR_IDENTITY_NOT_ALLOWED') >= 1);
    assert.ok(server.output().includes('"code":"TRELLIS_ERR_IDENTITY_NOT_ALLOWED"'));
  });

  it('refuses an expired token (401 TOKEN_EXPIRED)', async () => {
    const response = await api<{ token: string; expiresAt: string }>(`${server.url}/v1/tokens`, 'POST', { service: 'c', ttl: '1s' }, adminHeaders(server.url));
    await waitFor('the token to expire', () => Date.now() > Date.parse(response.json.expiresAt) + 50, { timeoutMs: 5_000 });
    const answer = await sign(server.url, csrC, response.json.token);
    assert.equal(answer.status, 401);
    assert.equal(answer.body.error?.code, 'TRELLIS_ERR_TOKEN_EXPIRED');
  });

  it('refuses a CSR that is not one, or names no SPIFFE ID (400 CSR_INVALID)', async () => {
    const token = await mintNewToken(server.url, 'c');
    const der = Buffer.from(csrC.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 20] ^= 0xff; // inside the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    const dnsOnly = join(dir.path, 'dns-only.csr');
    await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir.path, 'dns-only.key'), '-out', dnsOnly,
      '-subj', '/CN=c', '-addext', 'subjectAltName=DNS:c.example']);
    for (const csr of ['hello', tampered, readFileSync(dnsOnly, 'utf8')]) {
      const answer = await sign(server.url, csr, token);
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      assert.equal(answer.body.error?.code, 'TRELLIS_ERR_CSR_INVALID');
    }
    assert.equal((await sign(server.url, csrC, token)).status, 200, 'a good request is still served after the bad ones');
  });

  it('trellis token create prints the token once; list and the store never show it', async () => {
    const created = await runCli(['token', 'create', '--service', 'orders', '--ttl', '2h', '--control-plane', server.url], adminEnv(server.url));
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.split('\n')[0] ?? '';
    assert.match(token, /^trellis-join\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    const listed = await runCli(['token', 'list', '--json', '--control-plane', server.url], adminEnv(server.url));
    assert.equal(listed.code, 0);
    assert.ok(!listed.stdout.includes(token.split('.')[2]));
    assert.match(listed.stdout, /"service": "orders"/);
    assert.ok(!listed.stdout.includes('hash'));
    const store = readFileSync(join(dir.path, 'data', readdirSync(join(dir.path, 'data')).find((f) => f.endsWith('.db')) ?? 'missing'));
    assert.ok(!store.includes(token.split('.')[2]), 'the store keeps only a hash');
  });

  it('takes a given root with --ca-cert/--ca-key and signs with it', async () => {
    const given = await foreignCertificate(dir.path, 'spiffe://trellis.local/ns/default/svc/unused');
    const other = await startServer(join(dir.path, 'given'), ['--dns', 'off', '--ca-cert', given.rootCert, '--ca-key', given.rootKey]);
    const answer = await sign(other.url, csrC, await mintNewToken(other.url, 'c'));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const root = new X509Certificate(readFileSync(given.rootCert));
    assert.ok(new X509Certificate(answer.body.certificate ?? '').verify(root.publicKey));
    const keyFiles = readdirSync(join(dir.path, 'given', 'ca'));
    assert.equal(statSync(join(dir.path, 'given', 'ca', keyFiles[0])).mode & 0o777, 0o600);
    await other.kill();
  });

  it('makes an admin token on first start: in a 0600 file only (never on a piped stdout/stderr), only its hash in the store', async () => {
    const data = join(dir.path, 'admin');
    const first = await startServer(data, ['--dns', 'off']);
    const token = readFileSync(join(data, 'admin-token'), 'utf8').trim();
    assert.match(token, /^trellis-admin\.[A-Za-z0-9_-]{43}$/);
    assert.equal(statSync(join(data, 'admin-token')).mode & 0o777, 0o600);
    // stdout and stderr are pipes here (as under a log collector): the token is never written there, only where it is.
    await waitFor('the line naming the token file', () => first.output().includes(`read it from ${join(data, 'admin-token')}`));
    assert.ok(!first.output().includes(token), 'the admin token is not on a piped stdout or stderr');
    assert.ok(!first.output().includes(token.split('.')[1]), 'nor any part of its secret');
    await first.kill('SIGTERM');
    const store = readFileSync(join(data, readdirSync(data).find((f) => f.endsWith('.db')) ?? 'missing'));
    assert.ok(!store.includes(token.split('.')[1]), 'the store keeps only a hash');
    const again = await startServer(data, ['--dns', 'off']);
    assert.ok(!again.output().includes('admin token'), 'not shown on later starts');
    assert.equal(readFileSync(join(data, 'admin-token'), 'utf8').trim(), token, 'and not replaced');
    await again.kill();
  });

  it('administrative calls need the admin token (401 TOKEN_MISSING / TOKEN_INVALID, 403 for another valid token)', async () => {
    const missing = await api(`${server.url}/v1/tokens`, 'POST', { service: 'c' }, NO_TOKEN);
    assert.equal(missing.status, 401);
    assert.equal(missing.json.error.code, 'TRELLIS_ERR_TOKEN_MISSING');
    const wrong = await api(`${server.url}/v1/tokens`, 'POST', { service: 'c' }, { authorization: 'Bearer trellis-admin.not-it' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.code, 'TRELLIS_ERR_TOKEN_INVALID');
    assert.equal((await api(`${server.url}/v1/tokens`, 'GET', undefined, NO_TOKEN)).status, 401);
    assert.equal((await api(`${server.url}/v1/ca/rotate`, 'POST', {}, NO_TOKEN)).status, 401);
    const withJoinToken = await api(`${server.url}/v1/tokens`, 'POST', { service: 'c' }, { authorization: `Bearer ${await mintNewToken(server.url, 'c')}` });
    assert.equal(withJoinToken.status, 403, 'a join token is not an admin token');
    assert.equal(withJoinToken.json.error.code, 'TRELLIS_ERR_PERMISSION_DENIED');
    assert.equal((await api(`${server.url}/v1/tokens`, 'POST', { service: 'c' }, adminHeaders(server.url))).status, 201);
  });

  it('refuses --ca-cert without --ca-key', async () => {
    const result = await runCli(['server', '--data-dir', join(dir.path, 'half'), '--listen', '127.0.0.1:0', '--dns', 'off', '--ca-cert', '/nonexistent.pem']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /--ca-cert and --ca-key go together/);
  });
});
