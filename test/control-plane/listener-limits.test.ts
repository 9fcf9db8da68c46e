/**
 * The API listener's limits (src/control-plane/api/listener-limits.ts): under a slowloris flood
 * of 5,000 connections from ten source addresses, /healthz, heartbeats and the control plane's
 * own membership lease keep succeeding; the limits shed and refuse as documented, and count it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { guardListener, listenerLimits, DEFAULT_LISTENER_LIMITS, type ConnectionGuard } from '../../src/control-plane/api/listener-limits.js';
import { api, killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminHeaders } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const FLOOD = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'slowloris.js');
const SOURCES = Array.from({ length: 10 }, (_, i) => `127.0.0.${i + 2}`);
/** Each probe must succeed within this (a fresh connection, the machine shared and loaded). */
const PROBE_TIMEOUT_MS = 5_000;

/** One request on a new connection (no keep-alive pool: the worst case under a flood). */
function fresh(url: string, method: string, headers: Record<string, string>): Promise<{ status: number; body: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent: false, timeout: PROBE_TIMEOUT_MS }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function metric(url: string, line: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? Number.NaN : Number(found.slice(line.length + 1));
}

describe('control-plane API under a slowloris flood', () => {
  const dir = tempDir('slowloris');
  let server: ServerProcess;
  let flood: ChildProcess | undefined;

  before(async () => {
    server = await startServer(dir.path, ['--dns', 'off']);
  });
  after(() => {
    if (flood !== undefined && flood.exitCode === null) flood.kill('SIGKILL');
    killAll();
    dir.remove();
  });

  it('keeps /healthz, heartbeats and its membership lease working through 5,000 slow connections', async () => {
    const instance = `${server.url}/v1/services/web/instances/web-1`;
    const registered = await api(instance, 'PUT', { address: '127.0.0.1', port: 8080, ttl: '3s' });
    assert.equal(registered.status, 201);
    const { json: status } = await api<{ replica: { id: string } }>(`${server.url}/v1/status`);
    const replicaId = status.replica.id;

    const { port } = new URL(server.url);
    flood = spawn(process.execPath, [FLOOD, '127.0.0.1', port, '5000', SOURCES.join(',')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let floodOpen = 0;
    flood.stdout?.on('data', (d: Buffer) => {
      const last = d.toString().trim().split('\n').pop() ?? '';
      try { floodOpen = (JSON.parse(last) as { open: number }).open; } catch { /* partial line */ }
    });
    // The flood is on: the client holds 5,000 sockets and the server as many unfinished ones as its limits allow.
    await waitFor('the flood to hold 5,000 connections', () => floodOpen >= 4_500, { timeoutMs: 30_000, everyMs: 100 });
    const held = await waitFor('the server to hold the flood', async () => {
      const unfinished = await metric(server.url, 'trellis_api_connections{state="unfinished"}');
      return unfinished >= 2_000 ? unfinished : undefined;
    }, { timeoutMs: 30_000, everyMs: 250 });

    const auth = adminHeaders(new URL(server.url).origin);
    const failures: string[] = [];
    let probes = 0;
    let slowest = 0;
    // Longer than the 10 s header timeout: the flood's connections are cut and come back meanwhile.
    const until = Date.now() + 14_000;
    while (Date.now() < until) {
      probes += 1;
      const checks: Array<[string, Promise<boolean>]> = [
        ['GET /healthz', fresh(`${server.url}/healthz`, 'GET', {}).then((r) => { slowest = Math.max(slowest, r.ms); return r.status === 200; })],
        ['heartbeat', fresh(`${instance}/heartbeat`, 'PUT', auth).then((r) => { slowest = Math.max(slowest, r.ms); return r.status === 200; })],
        ['membership lease', fresh(`${server.url}/v1/status`, 'GET', {}).then((r) => {
          const members = (JSON.parse(r.body) as { replica: { members: Array<{ id: string }> } }).replica.members;
          return r.status === 200 && members.some((m) => m.id === replicaId);
        })],
      ];
      for (const [what, check] of checks) {
        const ok = await check.catch((err: Error) => { failures.push(`${what}: ${err.message}`); return true; });
        if (!ok) failures.push(`${what}: wrong answer`);
      }
      await new Promise((r) => setTimeout(r, 250)); // pacing of the probes, not synchronisation
    }
    assert.deepEqual(failures, [], `${failures.length} of ${probes * 3} probes failed`);
    assert.ok(probes >= 10, `${probes} rounds of probes`);

    const { json } = await api<{ instance: { status: string } }>(instance);
    assert.equal(json.instance.status, 'passing', 'the heartbeated instance never went critical');
    assert.doesNotMatch(server.output(), /membership lease expired|could not renew control-plane membership|EMFILE/);
    const shed = await metric(server.url, 'trellis_api_connections_refused_total{reason="shed_unfinished"}');
    assert.ok(shed > 0, `the flood's oldest connections were shed (${shed}), and counted`);
    process.stdout.write(`# flood: ${held} unfinished connections held by the server, ${shed} shed; ${probes * 3} probes, slowest ${slowest} ms\n`);
  });
});

describe('listener limits, in process', () => {
  let server: Server;
  let guard: ConnectionGuard;
  let port = 0;
  const sockets: Socket[] = [];

  before(async () => {
    server = createServer((_req, res) => { res.end('ok'); });
    guard = guardListener(server, { ...DEFAULT_LISTENER_LIMITS, maxConnectionsPerSource: 4, maxPendingPerSource: 2 }, 6);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const open = (source: string, head: string): Promise<Socket> => new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: source }, () => { socket.write(head); resolve(socket); });
    socket.on('error', reject);
    sockets.push(socket);
  });
  const closed = (socket: Socket): boolean => socket.destroyed || socket.readyState === 'closed' || !socket.readable;
  const answered = (socket: Socket): Promise<void> => new Promise((r) => socket.once('data', () => r()));

  it('sheds the oldest unfinished connection of a source beyond --max-unfinished-per-source', async () => {
    const first = await open('127.0.0.20', 'GET / HTTP/1.1\r\nHost: x\r\n');
    await open('127.0.0.20', 'GET / HTTP/1.1\r\nHost: x\r\n');
    await waitFor('two unfinished', () => guard.unfinished() === 2);
    await open('127.0.0.20', 'GET / HTTP/1.1\r\nHost: x\r\n');
    await waitFor('the first one closed', () => closed(first) || undefined, { timeoutMs: 5_000 });
    assert.equal(guard.refused().shed_unfinished, 1);
  });

  it('refuses a source beyond --max-connections-per-source when all its connections are serving', async () => {
    const serving: Socket[] = [];
    for (let i = 0; i < 4; i += 1) {
      const s = await open('127.0.0.21', '');
      const got = answered(s);
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await got;
      serving.push(s);
    }
    const extra = await open('127.0.0.21', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor('the fifth refused', () => closed(extra) || undefined, { timeoutMs: 5_000 });
    assert.equal(guard.refused().max_per_source, 1);
    assert.ok(serving.every((s) => !closed(s)), 'serving connections are kept');
  });

  it('sheds an unfinished connection of any source when the global limit is reached, before refusing', async () => {
    // Open now: 2 unfinished of .20, 4 serving of .21 = 6 = the limit.
    await waitFor('six open', () => guard.open() === 6);
    const newcomer = await open('127.0.0.22', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await answered(newcomer);
    assert.equal(guard.refused().shed_unfinished, 2, 'an unfinished one of .20 made room');
  });

  it('checks the flags as a whole', () => {
    assert.throws(() => listenerLimits({ headerTimeoutMs: 11_000 }), /--header-timeout must be at most 10s/);
    assert.throws(() => listenerLimits({ idleTimeoutMs: 10_000 }, 15_000), /--idle-timeout .* must be longer than --watch-keepalive/);
    assert.throws(() => listenerLimits({ maxConnections: 100 }), /--max-connections-per-source \(1024\) must not exceed --max-connections \(100\)/);
    assert.equal(listenerLimits({}).headerTimeoutMs, 10_000);
  });
});
