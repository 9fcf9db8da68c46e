/**
 * `trellis tap`: a live stream of a service's requests from its sidecars through the control
 * plane. The CLI (a real process, with a read-only token) taps `orders --path /orders`; a
 * client sends requests through its sidecar with secrets in the authorization and cookie
 * headers, the query and the body; the tap shows exactly the matching requests, each once,
 * with its status, caller and request id — and no secret. Without a token the stream is refused.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, it } from 'node:test';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { api, CLI, NO_TOKEN, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, send, sidecar, startApp, tearDown, url, type App } from '../proxy/helpers.js';

const dir = tempDir('tap');
const sidecars: Sidecar[] = [];
const apps: App[] = [];
let server: ServerProcess;
let caller: Sidecar;
let readToken: string;
let tap: ChildProcess | undefined;
let tapOut = '';
let tapErr = '';

interface TapLine { type: string; direction?: string; method?: string; path?: string; status?: number; caller?: string; requestId?: string; instance?: string; service?: string; latencyMs?: number }

const SECRETS = ['SECRET-AUTH-1f3a', 'SECRET-COOKIE-9b2c', 'SECRET-QUERY-77de', 'SECRET-BODY-40aa'];

function tapLines(): TapLine[] {
  return tapOut.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as TapLine);
}

before(async () => {
  server = await startServer(dir.path, ['--dns', 'off']);
  const app = await startApp('one', (req, res) => {
    req.resume();
    const path = (req.url ?? '/').split('?')[0];
    const status = path === '/orders/missing' ? 404 : req.method === 'POST' ? 201 : 200;
    res.writeHead(status, { 'content-type': 'text/plain', 'set-cookie': 'reply=SECRET-COOKIE-9b2c' });
    res.end('ok');
  });
  apps.push(app);
  sidecars.push(await replica(server.url, 'orders', app));
  caller = await sidecar({ service: 'web', id: 'web-1', controlPlane: server.url, upstreams: ['orders'] });
  sidecars.push(caller);
  await endpointsReached(caller, 'orders', 1);
  const made = await runCli(['token', 'create', '--read-only', '--json', '--control-plane', server.url]);
  assert.equal(made.code, 0, made.stderr);
  readToken = (JSON.parse(made.stdout) as { token: string }).token;
});

after(async () => {
  tap?.kill('SIGKILL');
  await tearDown(dir, sidecars, apps);
});

it('refuses a tap without a token', async () => {
  const refused = await api(`${server.url}/v1/tap?service=orders`, 'GET', undefined, NO_TOKEN);
  assert.equal(refused.status, 401);
});

it('shows exactly the requests a client sent, with their statuses, and none of their secrets', async () => {
  tap = spawn(process.execPath, [CLI, 'tap', 'orders', '--path', '/orders', '--json', '--control-plane', server.url], {
    env: { ...process.env, TRELLIS_TOKEN: readToken }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  tap.stdout?.on('data', (d: Buffer) => { tapOut += d.toString(); });
  tap.stderr?.on('data', (d: Buffer) => { tapErr += d.toString(); });
  await waitFor('the tap armed on the sidecar of orders', () => {
    assert.equal(tap?.exitCode, null, `trellis tap exited: ${tapErr}`);
    return tapLines().find((l) => l.type === 'armed');
  }, { timeoutMs: 15_000 });

  const secretHeaders = { host: 'orders', authorization: `Bearer ${SECRETS[0]}`, cookie: `session=${SECRETS[1]}` };
  const sent = [
    { method: 'GET', path: '/orders/1', status: 200, id: 'tap-1' },
    { method: 'GET', path: '/orders/missing', status: 404, id: 'tap-2' },
    { method: 'POST', path: '/orders', status: 201, id: 'tap-3' },
    { method: 'GET', path: '/other', status: 200, id: 'tap-not-matched' },
  ];
  for (const r of sent) {
    const answer = await send(url(caller.outbound, `${r.path}?token=${SECRETS[2]}`), {
      method: r.method, headers: { ...secretHeaders, 'x-request-id': r.id }, ...(r.method === 'POST' ? { body: `{"card":"${SECRETS[3]}"}` } : {}),
    });
    assert.equal(answer.status, r.status, `${r.method} ${r.path}`);
  }
  // A last request: once the tap shows it, everything sent before it has been shown too (one report carries them in order).
  assert.equal((await send(url(caller.outbound, '/orders/last'), { headers: { host: 'orders', 'x-request-id': 'tap-last' } })).status, 200);
  await waitFor('the last request in the tap', () => tapLines().find((l) => l.requestId === 'tap-last'), { timeoutMs: 15_000 }).catch((err: Error) => { throw new Error(`${err.message}; the tap said: ${tapOut} ${tapErr}`); });

  const requests = tapLines().filter((l) => l.type === 'request');
  const expected = [...sent.filter((r) => r.path.startsWith('/orders')), { method: 'GET', path: '/orders/last', status: 200, id: 'tap-last' }];
  assert.deepEqual(requests.map((l) => l.requestId).sort(), expected.map((r) => r.id).sort(), `exactly the requests sent under /orders, once each: ${tapOut}`);
  for (const r of expected) {
    const shown = requests.find((l) => l.requestId === r.id);
    assert.ok(shown !== undefined);
    assert.equal(shown.method, r.method);
    assert.equal(shown.path, r.path, 'the path without its query');
    assert.equal(shown.status, r.status);
    assert.equal(shown.direction, 'inbound');
    assert.equal(shown.caller, 'web');
    assert.equal(shown.instance, 'orders-one');
    assert.ok(typeof shown.latencyMs === 'number' && shown.latencyMs >= 0);
  }
  for (const secret of SECRETS) assert.ok(!tapOut.includes(secret) && !tapErr.includes(secret), `the tap never shows ${secret}`);
});
