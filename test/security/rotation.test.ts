/**
 * Rotation under steady traffic, with zero failed requests: workload certificates that live
 * 5 seconds renew (at 70% of their life) again and again, and `trellis ca rotate` brings in
 * a new root, trusted by all before it signs, and retires the old one. Traffic runs over
 * kept-alive HTTP connections and over a new TLS connection per request (a TCP upstream),
 * so that handshakes happen all through.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { api, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminEnv } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, send, sidecar, startApp, tearDown, url, type App } from '../proxy/helpers.js';

interface CaView { roots: Array<{ id: string; state: string }> }

/**
 * Steady, not flat out: about 50 requests/s per loop. Traffic as fast as the test process
 * can send would starve its own event loop — where the sidecars' renewal and heartbeat
 * timers run — and measure the machine's load rather than rotation.
 */
const pace = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

/** One GET on a connection of its own. */
function fresh(port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/fresh', agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
      res.on('error', (err) => resolve(`error ${err.message}`));
    });
    req.on('error', (err) => resolve(`error ${err.message}`));
  });
}

describe('certificate and root rotation under steady traffic', () => {
  const dir = tempDir('rotation');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  let server: ServerProcess;
  let caller: Sidecar;
  let traffic: { stop(): Promise<{ ok: number; failed: string[] }> };
  const mtls = { certificateLifetime: '5s' };

  before(async () => {
    server = await startServer(dir.path, ['--dns', 'off', '--cert-max-lifetime', '5s']);
    const b = await startApp('b');
    const bt = await startApp('bt');
    apps.push(b, bt);
    sidecars.push(await sidecar({ service: 'b', id: 'b-1', controlPlane: server.url, mtls, app: { port: b.port, health: { interval: '200ms' } } }));
    sidecars.push(await sidecar({ service: 'bt', id: 'bt-1', controlPlane: server.url, mtls, app: { port: bt.port, protocol: 'tcp', health: { interval: '200ms' } } }));
    caller = await sidecar({ service: 'a', controlPlane: server.url, mtls, upstreams: ['b', { service: 'bt', port: 0, protocol: 'tcp' }] });
    sidecars.push(caller);
    await endpointsReached(caller, 'b', 1);
    await endpointsReached(caller, 'bt', 1);
    const btPort = caller.upstreamPorts['bt']?.port ?? 0;

    const pool = new Pool(url(caller.outbound), { connections: 2 });
    let running = true;
    let ok = 0;
    const failed: string[] = [];
    const keptAlive = async (): Promise<void> => {
      while (running) {
        const answer = await send(url(caller.outbound, '/kept'), { headers: { host: 'b' }, dispatcher: pool }).catch((err: Error) => ({ status: 0, body: err.message }));
        if (answer.status === 200 && answer.body === 'b') ok += 1;
        else failed.push(`kept-alive: ${answer.status} ${answer.body}`);
        await pace();
      }
    };
    const newConnections = async (): Promise<void> => {
      while (running) {
        const answer = await fresh(btPort);
        if (answer === '200 bt') ok += 1;
        else failed.push(`new connection: ${answer}`);
        await pace();
      }
    };
    const loops = Promise.all([keptAlive(), newConnections()]);
    traffic = { stop: async () => { running = false; await loops; await pool.close(); return { ok, failed }; } };
  });

  after(() => tearDown(dir, sidecars, apps));

  it('5-second certificates renew again and again with zero failed requests', async () => {
    await waitFor('two renewals on every sidecar', () => sidecars.every((s) => (s.status().mtls?.renewals ?? 0) >= 2), { timeoutMs: 30_000 });
    for (const s of sidecars) {
      const status = s.status().mtls;
      assert.ok(status !== undefined && Date.parse(status.notAfter ?? '') - Date.now() <= 5_500, 'a certificate lives 5 s at most');
      assert.equal(status?.renewalFailures, 0);
    }
  });

  it('trellis ca rotate: the new root is trusted, then signs, then the old one is retired — with zero failed requests', async () => {
    const before = (await api<CaView>(`${server.url}/v1/ca`)).json.roots;
    assert.equal(before.length, 1);
    const oldRoot = before[0]?.id;
    const unauthorized = await runCli(['ca', 'rotate', '--control-plane', server.url], { TRELLIS_ADMIN_TOKEN: 'trellis-admin.wrong' });
    assert.equal(unauthorized.code, 1);
    assert.match(unauthorized.stderr, /TRELLIS_ERR_TOKEN_INVALID/);
    const rotated = await runCli(['ca', 'rotate', '--control-plane', server.url], adminEnv(server.url));
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /rotation started/);
    assert.match(rotated.stdout, /pending/);
    await waitFor('every sidecar to trust both roots', () => sidecars.every((s) => s.status().mtls?.roots === 2), { timeoutMs: 15_000 });
    await waitFor('the old root retired', async () => {
      const roots = (await api<CaView>(`${server.url}/v1/ca`)).json.roots;
      return roots.length === 1 && roots[0]?.id !== oldRoot && roots[0]?.state === 'active';
    }, { timeoutMs: 30_000 });
    await waitFor('every sidecar to trust the new root only', () => sidecars.every((s) => s.status().mtls?.roots === 1), { timeoutMs: 15_000 });
    const { ok, failed } = await traffic.stop();
    assert.deepEqual(failed, [], JSON.stringify(sidecars.map((s) => s.status().mtls)));
    assert.ok(ok > 50, `${ok} requests went through`);
    for (const s of sidecars) assert.equal(s.status().mtls?.renewalFailures, 0);
  });
});
