/**
 * `trellis gateway` end to end: a control plane, two mesh services behind sidecars in strict
 * mTLS, and a gateway with an HTTP and an HTTPS listener (two certificates made by openssl,
 * chosen by SNI), JWT authentication against a JWKS file of a key made by jose in the test,
 * API keys, CORS and size limits, routed by host and path with routes attached to it. Real
 * clients: curl (--resolve for SNI) and openssl s_client.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { hashApiKey } from '../../src/gateway/api-keys.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { startGateway, type Gateway } from '../../src/gateway/gateway.js';
import { adminApi, killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { quiet, replica, startApp, type App } from '../proxy/helpers.js';

const run = promisify(execFile);

/** A self-signed certificate for `names` (the first is the CN), written as PEM files. */
async function makeCertificate(dir: string, base: string, names: readonly string[]): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${base}.pem`);
  const key = join(dir, `${base}.key`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`, '-keyout', key, '-out', cert]);
  return { cert, key };
}

interface CurlAnswer { status: number; headers: Record<string, string>; body: string }

/** curl, with the response head parsed (header names lower case). */
async function curl(args: readonly string[]): Promise<CurlAnswer> {
  const { stdout } = await run('curl', ['-sS', '-i', '--max-time', '20', ...args], { maxBuffer: 4 << 20 });
  // The last head (after any 100 Continue).
  const parts = stdout.split('\r\n\r\n');
  let at = 0;
  while (parts[at + 1] !== undefined && /^HTTP\/1\.1 1\d\d/.test(parts[at] ?? '')) at += 1;
  const [statusLine = '', ...lines] = (parts[at] ?? '').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: parts.slice(at + 1).join('\r\n\r\n') };
}

/** The subject and serial of the certificate the server presents for `servername`. */
async function presented(port: number, servername: string, caFile: string): Promise<{ subject: string; serial: string; verified: boolean }> {
  const { stdout } = await run('sh', ['-c', `echo | openssl s_client -connect 127.0.0.1:${port} -servername ${servername} 2>/dev/null | openssl x509 -noout -subject -serial`]).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const { stdout: full } = await run('sh', ['-c', `echo | openssl s_client -connect 127.0.0.1:${port} -servername ${servername} -CAfile ${caFile} 2>&1`]).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  return {
    subject: /subject=\s*(.*)/.exec(stdout)?.[1]?.trim() ?? '',
    serial: /serial=(\S+)/.exec(stdout)?.[1] ?? '',
    verified: /Verify return code: 0 \(ok\)/.test(full),
  };
}

describe('trellis gateway: TLS with SNI, JWT, API keys, CORS, host and path routes into the mesh', () => {
  const data = tempDir('gateway');
  let server: ServerProcess;
  const apps: App[] = [];
  const sidecars: Sidecar[] = [];
  let gateway: Gateway;
  let key: CryptoKey;
  let otherKey: CryptoKey;
  let api: { cert: string; key: string };
  let wild: { cert: string; key: string };
  let https = 0;
  let http = 0;
  const apiKey = 'k-7f3a9c-test-key';

  const token = (claims: Record<string, unknown> = {}, options: { signWith?: CryptoKey; exp?: number; nbf?: number; aud?: string } = {}): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ scope: 'orders:read', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://id.example.test').setAudience(options.aud ?? 'trellis-api').setSubject('alice')
      .setIssuedAt(now).setExpirationTime(options.exp ?? now + 300).setNotBefore(options.nbf ?? now - 10)
      .sign(options.signWith ?? key);
  };
  const resolveApi = (): string[] => ['--resolve', `api.example.test:${https}:127.0.0.1`, '--cacert', api.cert];
  const atApi = (path: string): string => `https://api.example.test:${https}${path}`;

  before(async () => {
    server = await startServer(join(data.path, 'cp'));
    for (const [service, name] of [['orders', 'orders-1'], ['users', 'users-1']] as const) {
      const app = await startApp(name, (req, res) => {
        req.resume();
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ app: name, path: req.url, host: req.headers.host, user: req.headers['x-user-id'] ?? null, client: req.headers['x-trellis-client'] ?? null, authorization: req.headers.authorization ?? null, edge: req.headers['x-edge'] ?? null }));
      });
      apps.push(app);
      sidecars.push(await replica(server.url, service, app, { mtls: { mode: 'strict' } }));
    }
    const signing = await generateKeyPair('ES256', { extractable: true });
    key = signing.privateKey;
    otherKey = (await generateKeyPair('ES256')).privateKey;
    const { publicKey } = signing;
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    writeFileSync(join(data.path, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    api = await makeCertificate(data.path, 'api', ['api.example.test']);
    wild = await makeCertificate(data.path, 'wild', ['*.apps.test']);
    const put = await adminApi(`${server.url}/v1/traffic-routes`, 'PUT', { routes: [
      { name: 'edge-orders', parentRefs: [{ kind: 'Gateway', name: 'edge' }], hostnames: ['api.example.test'],
        rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/orders' } }], backendRefs: [{ name: 'orders' }] },
          // One token per 100 s after a burst of 2, per client: the third request of a client within the test is over.
          { matches: [{ path: { type: 'PathPrefix', value: '/limited' } }], backendRefs: [{ name: 'orders' }], filters: [
            { type: 'LocalRateLimit', localRateLimit: { requestsPerSecond: 0.01, burst: 2, perCaller: true } },
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-edge', value: 'limited' }] } }] },
          { matches: [{ path: { type: 'PathPrefix', value: '/users' } }], backendRefs: [{ name: 'users' }] }] },
      { name: 'edge-apps', parentRefs: [{ kind: 'Gateway', name: 'edge' }], hostnames: ['*.apps.test'],
        rules: [{ backendRefs: [{ name: 'users' }] }] },
    ] });
    assert.equal(put.status, 200, `routes applied: ${JSON.stringify(put.json)}`);
    // The gateway resource (the generic config kind): the hosts its listeners answer for.
    const declared = await adminApi(`${server.url}/v1/gateways`, 'PUT', { gateways: [{ name: 'edge', listeners: [
      { name: 'web', protocol: 'HTTP', port: 8080, hostname: 'api.example.test' },
      { name: 'websecure', protocol: 'HTTPS', port: 8443, hostname: 'api.example.test' },
      { name: 'apps', protocol: 'HTTPS', port: 8443, hostname: '*.apps.test' },
      { name: 'spare', protocol: 'HTTPS', port: 8443, hostname: 'spare.example.test' },
    ] }] });
    assert.equal(declared.status, 200, `gateway resource applied: ${JSON.stringify(declared.json)}`);
    const config = parseGatewayConfig({
      name: 'edge', controlPlane: server.url, upstreams: ['orders', 'users'],
      listeners: [
        { name: 'web', protocol: 'HTTP', address: '127.0.0.1:0' },
        { name: 'websecure', protocol: 'HTTPS', address: '127.0.0.1:0', certificates: [api, wild] },
      ],
      authentication: {
        jwt: { jwks: { file: join(data.path, 'jwks.json') }, issuer: 'https://id.example.test', audience: 'trellis-api', clockSkew: '5s', claimsToHeaders: { sub: 'x-user-id' } },
        apiKeys: { header: 'x-api-key', keys: [{ name: 'ci-robot', sha256: hashApiKey(apiKey) }] },
      },
      cors: { allowOrigins: ['https://app.example.test'], allowMethods: ['GET', 'POST'], allowHeaders: ['authorization', 'content-type'], maxAge: '10m' },
      limits: { maxBodyBytes: 1024, maxHeaderSize: 16384 },
    });
    gateway = await startGateway({ config, token: await mintToken(server.url, 'edge'), logger: quiet, random: () => 0.5 });
    https = gateway.addresses['websecure']?.port ?? 0;
    http = gateway.addresses['web']?.port ?? 0;
    await waitFor('the gateway\'s routes', () => (gateway.router().routes.length === 2 ? true : undefined), { timeoutMs: 10_000 });
  });

  after(async () => {
    await gateway?.close();
    for (const s of sidecars) await s.close();
    for (const a of apps) await a.close();
    killAll();
    await server?.kill();
    data.remove();
  });

  it('SNI picks the certificate for each name (openssl s_client), and curl verifies it', async () => {
    const one = await presented(https, 'api.example.test', api.cert);
    assert.match(one.subject, /CN\s*=\s*api\.example\.test/, `the certificate for api.example.test: ${one.subject}`);
    assert.ok(one.verified, 'openssl verifies the api.example.test certificate against its own file');
    const two = await presented(https, 'shop.apps.test', wild.cert);
    assert.match(two.subject, /CN\s*=\s*\*\.apps\.test/, `the wildcard certificate for shop.apps.test: ${two.subject}`);
    const answer = await curl([...resolveApi(), '-H', `authorization: Bearer ${await token()}`, atApi('/orders/42')]);
    assert.equal(answer.status, 200, `curl over TLS with a valid token: ${answer.body}`);
  });

  it('no JWT: 401 naming why, with trellis-error and WWW-Authenticate', async () => {
    const answer = await curl([...resolveApi(), atApi('/orders/1')]);
    assert.equal(answer.status, 401, answer.body);
    assert.equal(answer.headers['trellis-error'], 'TRELLIS_ERR_UNAUTHENTICATED');
    assert.match(answer.headers['www-authenticate'] ?? '', /^Bearer realm="edge"/, 'a Bearer challenge');
    assert.match(answer.body, /no credentials/, 'the body says why');
  });

  it('alg none, a wrong key, an expired token, a token not valid yet and a wrong audience: 401 each, with the reason', async () => {
    const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const none = `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ sub: 'alice', iss: 'https://id.example.test', aud: 'trellis-api', exp: now + 300 })}.`;
    const cases: Array<[string, string, RegExp]> = [
      ['alg none', none, /algorithm is not accepted|malformed|not accepted/],
      ['wrong key', await token({}, { signWith: otherKey }), /signature does not verify/],
      ['expired', await token({}, { exp: now - 60 }), /expired/],
      ['not yet valid', await token({}, { nbf: now + 120, exp: now + 600 }), /not valid yet/],
      ['wrong audience', await token({}, { aud: 'someone-else' }), /audience/],
    ];
    for (const [what, jwt, reason] of cases) {
      const answer = await curl([...resolveApi(), '-H', `authorization: Bearer ${jwt}`, atApi('/orders/1')]);
      assert.equal(answer.status, 401, `${what}: ${answer.body}`);
      assert.equal(answer.headers['trellis-error'], 'TRELLIS_ERR_UNAUTHENTICATED', `${what}: the code`);
      assert.match(answer.headers['www-authenticate'] ?? '', /error="invalid_token"/, `${what}: the challenge says invalid_token`);
      assert.match(answer.body, reason, `${what}: the reason in ${answer.body}`);
    }
    // Within the clock skew (5 s) a just-expired token still passes.
    const skewed = await curl([...resolveApi(), '-H', `authorization: Bearer ${await token({}, { exp: now - 2 })}`, atApi('/orders/1')]);
    assert.equal(skewed.status, 200, `a token expired 2 s ago is within the 5 s skew: ${skewed.body}`);
  });

  it('a valid token is routed by host and path, over mTLS, with the claims as headers and no Authorization passed on', async () => {
    const jwt = await token();
    const orders = await curl([...resolveApi(), '-H', `authorization: Bearer ${jwt}`, '-H', 'x-user-id: mallory', atApi('/orders/42?x=1')]);
    assert.equal(orders.status, 200, orders.body);
    const o = JSON.parse(orders.body) as { app: string; path: string; user: string; client: string; authorization: string | null };
    assert.equal(o.app, 'orders-1', '/orders on api.example.test goes to orders');
    assert.equal(o.path, '/orders/42?x=1');
    assert.equal(o.user, 'alice', 'the sub claim replaces a forged x-user-id');
    assert.equal(o.client, 'alice');
    assert.equal(o.authorization, null, 'the token is not passed on');
    const users = JSON.parse((await curl([...resolveApi(), '-H', `authorization: Bearer ${jwt}`, atApi('/users/7')])).body) as { app: string };
    assert.equal(users.app, 'users-1', '/users goes to users');
    const wildHost = await curl(['--resolve', `shop.apps.test:${https}:127.0.0.1`, '--cacert', wild.cert, '-H', `authorization: Bearer ${jwt}`, `https://shop.apps.test:${https}/anything`]);
    assert.equal((JSON.parse(wildHost.body) as { app: string }).app, 'users-1', 'a host under *.apps.test goes to users');
    const plain = await curl(['-H', 'host: api.example.test', '-H', `authorization: Bearer ${jwt}`, `http://127.0.0.1:${http}/orders/1`]);
    assert.equal((JSON.parse(plain.body) as { app: string }).app, 'orders-1', 'the HTTP listener routes the same way');
  });

  it('an unknown host, a declared host without routes and an unrouted path: 404 NO_ROUTE naming them', async () => {
    const jwt = await token();
    const host = await curl(['-H', 'host: nowhere.test', '-H', `authorization: Bearer ${jwt}`, `http://127.0.0.1:${http}/orders/1`]);
    assert.equal(host.status, 404, host.body);
    assert.equal(host.headers['trellis-error'], 'TRELLIS_ERR_NO_ROUTE');
    assert.match(host.body, /host \\"nowhere\.test\\" is not among the hostnames of gateway edge/, host.body);
    const spare = await curl(['-H', 'host: spare.example.test', '-H', `authorization: Bearer ${jwt}`, `http://127.0.0.1:${http}/orders/1`]);
    assert.equal(spare.status, 404, spare.body);
    assert.match(spare.body, /no route for host \\"spare\.example\.test\\"/, spare.body);
    const path = await curl([...resolveApi(), '-H', `authorization: Bearer ${jwt}`, atApi('/billing')]);
    assert.equal(path.status, 404, path.body);
    assert.match(path.body, /GET \/billing/, path.body);
  });

  it('the gateway resource is validated whole by the control plane, with the field named', async () => {
    const bad = await adminApi<{ error: { code: string; field?: string; message: string } }>(`${server.url}/v1/gateways`, 'PUT', { gateways: [
      { name: 'edge-2', listeners: [{ name: 'web', protocol: 'HTTP', port: 8080 }] },
      { name: 'edge-3', listeners: [{ name: 'web', protocol: 'SMTP', port: 25 }] },
    ] });
    assert.equal(bad.status, 400, JSON.stringify(bad.json));
    assert.equal(bad.json.error.code, 'TRELLIS_ERR_VALIDATION');
    assert.equal(bad.json.error.field, 'gateways.1.listeners.0.protocol', bad.json.error.message);
    const missing = await adminApi<{ error: { code: string } }>(`${server.url}/v1/gateways/edge-2`);
    assert.equal(missing.json.error.code, 'TRELLIS_ERR_GATEWAY_NOT_FOUND', 'nothing of the bad apply was stored');
    const listed = await adminApi<{ gateways: Array<{ name: string }> }>(`${server.url}/v1/gateways`);
    assert.deepEqual(listed.json.gateways.map((g) => g.name), ['edge']);
  });

  it('API keys: a known key is let in as its name, an unknown one is refused', async () => {
    const good = await curl([...resolveApi(), '-H', `x-api-key: ${apiKey}`, atApi('/orders/1')]);
    assert.equal(good.status, 200, good.body);
    assert.equal((JSON.parse(good.body) as { client: string }).client, 'ci-robot');
    const bad = await curl([...resolveApi(), '-H', 'x-api-key: guessed', atApi('/orders/1')]);
    assert.equal(bad.status, 401, bad.body);
    assert.match(bad.headers['www-authenticate'] ?? '', /^ApiKey header="x-api-key"/);
  });

  it('a gateway route\'s filters: a rate limit per authenticated client (429 with Retry-After), header changes', async () => {
    const jwt = await token();
    const asAlice = (): Promise<CurlAnswer> => curl([...resolveApi(), '-H', `authorization: Bearer ${jwt}`, atApi('/limited/1')]);
    const first = await asAlice();
    assert.equal(first.status, 200, first.body);
    assert.equal((JSON.parse(first.body) as { edge: string }).edge, 'limited', 'the route\'s RequestHeaderModifier applied');
    assert.equal((await asAlice()).status, 200, 'the burst is 2');
    const over = await asAlice();
    assert.equal(over.status, 429, over.body);
    assert.equal(over.headers['trellis-error'], 'TRELLIS_ERR_RATE_LIMITED');
    assert.ok(Number(over.headers['retry-after']) >= 1, `Retry-After: ${over.headers['retry-after']}`);
    assert.match(over.body, /per caller \(alice\)/, over.body);
    const robot = await curl([...resolveApi(), '-H', `x-api-key: ${apiKey}`, atApi('/limited/1')]);
    assert.equal(robot.status, 200, `another client has its own bucket: ${robot.body}`);
  });

  it('CORS: the preflight is answered at the gateway; an allowed origin gets its header on the answer', async () => {
    const pre = await curl([...resolveApi(), '-X', 'OPTIONS', '-H', 'origin: https://app.example.test', '-H', 'access-control-request-method: POST',
      '-H', 'access-control-request-headers: authorization, content-type', atApi('/orders/1')]);
    assert.equal(pre.status, 204, `preflight without credentials is answered here: ${pre.body}`);
    assert.equal(pre.headers['access-control-allow-origin'], 'https://app.example.test');
    assert.match(pre.headers['access-control-allow-methods'] ?? '', /POST/);
    assert.equal(pre.headers['access-control-max-age'], '600');
    const refused = await curl([...resolveApi(), '-X', 'OPTIONS', '-H', 'origin: https://evil.test', '-H', 'access-control-request-method: POST', atApi('/orders/1')]);
    assert.equal(refused.status, 403, 'an origin not allowed');
    const actual = await curl([...resolveApi(), '-H', 'origin: https://app.example.test', '-H', `authorization: Bearer ${await token()}`, atApi('/orders/1')]);
    assert.equal(actual.status, 200);
    assert.equal(actual.headers['access-control-allow-origin'], 'https://app.example.test');
  });

  it('size limits: a body over maxBodyBytes is 413, a 1 MB header is 431, and the gateway keeps serving', async () => {
    const big = await curl([...resolveApi(), '-H', `authorization: Bearer ${await token()}`, '--data-binary', 'x'.repeat(4096), atApi('/orders/1')]);
    assert.equal(big.status, 413, big.body);
    assert.equal(big.headers['trellis-error'], 'TRELLIS_ERR_BODY_TOO_LARGE');
    const header = join(data.path, 'big-header');
    writeFileSync(header, `x-big: ${'a'.repeat(1 << 20)}\r\n`);
    const huge = await curl([...resolveApi(), '-H', `@${header}`, atApi('/orders/1')]).catch(() => ({ status: 0, headers: {}, body: '' }));
    assert.ok(huge.status === 431 || huge.status === 0, `a 1 MB header is refused (431, or the connection closed): ${huge.status}`);
    const after = await curl([...resolveApi(), '-H', `authorization: Bearer ${await token()}`, atApi('/orders/1')]);
    assert.equal(after.status, 200, 'still serving');
  });

  it('a changed certificate file is picked up for new handshakes; a connection open before keeps serving', async () => {
    const before = await presented(https, 'api.example.test', api.cert);
    const jwt = await token();
    // A keep-alive TLS connection opened with the old certificate.
    const open = new Agent({ connect: { ca: readFileSync(api.cert, 'utf8'), servername: 'api.example.test' }, connections: 1, keepAliveTimeout: 60_000 });
    const callOpen = async (): Promise<{ status: number; socketsOpened: number }> => {
      const res = await request(`https://127.0.0.1:${https}/orders/keep`, { dispatcher: open, headers: { host: 'api.example.test', authorization: `Bearer ${jwt}` } });
      await res.body.text();
      return { status: res.statusCode, socketsOpened: connects };
    };
    let connects = 0;
    open.on('connect', () => { connects += 1; });
    const reloads = gateway.certificates['websecure']?.reloads ?? 0;
    const next = await makeCertificate(data.path, 'api-next', ['api.example.test']);
    // Written the way a renewal does it: new files renamed over the old ones.
    renameSync(next.key, api.key);
    renameSync(next.cert, api.cert);
    assert.equal((await callOpen()).status, 200, 'the keep-alive connection serves before the reload');
    await waitFor('the reload', () => ((gateway.certificates['websecure']?.reloads ?? 0) > reloads ? true : undefined), { timeoutMs: 10_000 });
    const after = await presented(https, 'api.example.test', api.cert);
    assert.notEqual(after.serial, before.serial, 'a new handshake presents the new certificate');
    assert.ok(after.verified, 'and it verifies against the new file');
    const later = await callOpen();
    assert.equal(later.status, 200, 'the connection opened before the reload still serves');
    assert.equal(later.socketsOpened, 1, 'on the same connection (no reconnect)');
    await open.close();
  });
});
