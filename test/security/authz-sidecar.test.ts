/**
 * Authorization enforced by real sidecars, with a real control plane process: a caller's
 * sidecar (`a`, outbound only) calls `b` through `b`'s sidecar. Policy changes reach the
 * sidecar within a second (measured from the apply to the first request that gets the new
 * decision, no restart), method / path rules and defaults, a raw TCP service closed to
 * callers a policy denies, and the last known policy kept while the control plane is away.
 */
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { adminApi as api, killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, send, sidecar, startApp, tearDown, url, type Answer, type App } from '../proxy/helpers.js';

interface Forbidden { error: { code: string; message: string; service: string; policy?: string; rule?: string; default?: string; caller: string } }

/** How long a policy change may take to reach the sidecars. */
const PROPAGATION_BUDGET_MS = 1_000;

describe('authorization policy in the sidecars', () => {
  const dir = tempDir('authz-sidecar');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  let server: ServerProcess;
  let b: Sidecar;
  let a: Sidecar;
  let pool: Pool;

  const call = (path = '/', method = 'GET'): Promise<Answer> =>
    send(url(a.outbound, path), { method, headers: { host: 'b' }, dispatcher: pool });
  const put = async (name: string, policy: unknown): Promise<void> => {
    const answer = await api(`${server.url}/v1/policies/${name}`, 'PUT', policy);
    assert.ok(answer.status === 200 || answer.status === 201, JSON.stringify(answer.json));
  };
  const remove = async (name: string): Promise<void> => {
    assert.equal((await api(`${server.url}/v1/policies/${name}`, 'DELETE')).status, 200);
  };
  /** Time from `change` starting to the first request whose status is `status`. */
  const propagation = async (change: () => Promise<void>, status: number, path = '/'): Promise<number> => {
    const started = performance.now();
    await change();
    await waitFor(`a request answered ${status}`, async () => (await call(path)).status === status, { timeoutMs: 10_000, everyMs: 5 });
    return performance.now() - started;
  };

  before(async () => {
    server = await startServer(dir.path, ['--dns', 'off']);
    const app = await startApp('b', (req, res) => {
      req.resume();
      res.end(`b got ${req.method ?? ''} ${req.url ?? ''}`);
    });
    apps.push(app);
    // Permissive: the mesh caller `a` comes over mTLS (known by its certificate); the raw
    // WebSocket client below comes in plaintext, unauthenticated.
    b = await replica(server.url, 'b', app, { mtls: { mode: 'permissive' } });
    sidecars.push(b);
    a = await sidecar({ service: 'a', controlPlane: server.url, upstreams: [{ service: 'b', retry: { maxAttempts: 1 } }] });
    sidecars.push(a);
    await endpointsReached(a, 'b', 1);
    await waitFor('b to read its policies', () => b.status().authorization?.state === 'connected');
    pool = new Pool(url(a.outbound), { connections: 4 });
  });

  after(async () => {
    await pool.close();
    await tearDown(dir, sidecars, apps);
    killAll();
  });

  it('with no policy every request is allowed (the built-in default)', async () => {
    const answer = await call('/hello');
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'b got GET /hello');
    assert.deepEqual(b.status().authorization?.policies, []);
  });

  it(`a default deny reaches the sidecar within ${PROPAGATION_BUDGET_MS} ms, and its deletion too, with no restart`, async (t) => {
    const closing = await propagation(() => put('b-closed', { service: 'b', default: 'deny' }), 403);
    const denied = await call('/x');
    assert.equal(denied.status, 403);
    assert.equal(denied.headers['trellis-error'], 'TRELLIS_ERR_FORBIDDEN');
    const body = JSON.parse(denied.body) as Forbidden;
    assert.equal(body.error.code, 'TRELLIS_ERR_FORBIDDEN');
    assert.equal(body.error.policy, 'b-closed');
    assert.equal(body.error.default, 'service');
    assert.equal(body.error.caller, 'spiffe://trellis.local/ns/default/svc/a');
    assert.match(body.error.message, /denied by the default of policy b-closed \(service b: deny\).*spiffe:\/\/trellis\.local\/ns\/default\/svc\/a calling GET \/x on b/);

    const opening = await propagation(() => remove('b-closed'), 200);
    t.diagnostic(`apply → first 403: ${Math.round(closing)} ms; delete → first 200: ${Math.round(opening)} ms`);
    assert.ok(closing < PROPAGATION_BUDGET_MS, `the deny took ${Math.round(closing)} ms to apply`);
    assert.ok(opening < PROPAGATION_BUDGET_MS, `the delete took ${Math.round(opening)} ms to apply`);
    const counters = b.status().authorization;
    assert.ok((counters?.denied ?? 0) >= 2);
    assert.ok((counters?.deniedBy['b-closed'] ?? 0) >= 2);
  });

  it('method and path rules: allow reads under /api, deny /api/admin, default deny for the rest', async () => {
    await propagation(() => put('b-api', {
      service: 'b',
      default: 'deny',
      rules: [
        { name: 'reads', action: 'allow', methods: ['GET', 'HEAD'], paths: ['/api'] },
        { name: 'no-admin', action: 'deny', paths: ['/api/admin'] },
      ],
    }), 200, '/api/orders');
    assert.equal((await call('/api/orders?id=1')).status, 200);
    assert.equal((await call('/api')).status, 200);
    const post = await call('/api/orders', 'POST');
    assert.equal(post.status, 403);
    assert.equal((JSON.parse(post.body) as Forbidden).error.default, 'service');
    assert.equal((await call('/apis')).status, 403, 'a prefix matches whole segments');
    for (const path of ['/api/admin', '/api/admin/users', '/api/%61dmin', '/api//admin', '/api/x/../admin']) {
      const admin = await call(path);
      assert.equal(admin.status, 403, path);
      const error = (JSON.parse(admin.body) as Forbidden).error;
      assert.equal(error.policy, 'b-api', path);
      assert.equal(error.rule, 'no-admin', path);
    }
    await remove('b-api');
  });

  it('a mesh-wide deny rule applies to every service; a service default allow does not override a matching deny', async () => {
    await put('b-open', { service: 'b', default: 'allow' });
    await put('mesh-no-delete', { service: '*', rules: [{ action: 'deny', methods: ['DELETE'] }] });
    await waitFor('the mesh-wide policy at b', () => b.status().authorization?.policies.includes('mesh-no-delete'));
    assert.equal((await call('/x')).status, 200);
    const del = await call('/x', 'DELETE');
    assert.equal(del.status, 403);
    assert.equal((JSON.parse(del.body) as Forbidden).error.policy, 'mesh-no-delete');
    await remove('mesh-no-delete');
    await remove('b-open');
    await waitFor('no policies at b', () => b.status().authorization?.policies.length === 0);
  });

  it('a WebSocket upgrade the policy denies is answered 403 before it reaches the app', async () => {
    await propagation(() => put('b-no-ws', { service: 'b', rules: [{ name: 'no-chat', action: 'deny', paths: ['/chat'] }] }), 200);
    await waitFor('b-no-ws at b', () => b.status().authorization?.policies.includes('b-no-ws'));
    const at = b.inbound;
    assert.ok(at !== undefined);
    const head = await new Promise<string>((resolve, reject) => {
      const socket = connect(at.port, at.host, () => socket.write([
        'GET /chat HTTP/1.1', 'Host: b', 'Connection: Upgrade', 'Upgrade: websocket',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', '', '',
      ].join('\r\n')));
      let got = '';
      socket.on('data', (d: Buffer) => { got += d.toString(); });
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
      socket.setTimeout(5_000, () => socket.destroy());
    });
    assert.match(head, /^HTTP\/1\.1 403 /);
    assert.match(head, /trellis-error: TRELLIS_ERR_FORBIDDEN/i);
    assert.match(head, /"rule":"no-chat"/);
    await remove('b-no-ws');
  });

  it('raw TCP: a denied connection is closed before a byte reaches the app', async () => {
    const tcpServer = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => tcpServer.listen(0, '127.0.0.1', resolve));
    const port = (tcpServer.address() as { port: number }).port;
    const tcp = await sidecar({ service: 'db', id: 'db-1', controlPlane: server.url, ttl: '1s', app: { port, protocol: 'tcp', health: { interval: '200ms' } }, mtls: { mode: 'permissive' } });
    sidecars.push(tcp);
    await waitFor('db to read its policies', () => tcp.status().authorization?.state === 'connected');
    const exchange = (): Promise<string> => new Promise((resolve, reject) => {
      const at = tcp.inbound;
      assert.ok(at !== undefined);
      const socket = connect(at.port, at.host, () => socket.write('ping'));
      let got = '';
      socket.on('data', (d: Buffer) => { got += d.toString(); if (got === 'ping') socket.end(); });
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
    assert.equal(await exchange(), 'ping');
    await put('db-closed', { service: 'db', rules: [{ name: 'no-plaintext', action: 'deny', from: ['unauthenticated'] }] });
    await waitFor('the connection to be refused', async () => (await exchange().catch(() => '')) === '', { timeoutMs: 5_000 });
    assert.equal(tcp.status().authorization?.deniedBy['db-closed'] !== undefined, true);
    await remove('db-closed');
    await tcp.close();
    tcpServer.close();
  });

  it('keeps enforcing the last known policy while the control plane is away', async () => {
    await propagation(() => put('b-closed', { service: 'b', default: 'deny' }), 403);
    await server.kill();
    await waitFor('b to notice the control plane is gone', () => b.status().authorization?.state === 'stale', { timeoutMs: 60_000 });
    const denied = await call('/still');
    assert.equal(denied.status, 403);
    assert.equal((JSON.parse(denied.body) as Forbidden).error.policy, 'b-closed');
  });
});
