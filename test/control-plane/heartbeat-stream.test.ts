/**
 * The keep-alive stream (issue 13): one upgraded connection carries many heartbeats as NDJSON
 * lines, each acked in order; it renews leases like the HTTP heartbeat, names unknown
 * instances, survives bad lines, outlives the listener's request timeout, is charged to the
 * token's rate limit, and refuses a token of another service. A sidecar's registration sends
 * its heartbeats over it and falls back to HTTP while it cannot.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ControlPlaneClient } from '../../src/client/control-plane.js';
import { HEARTBEAT_PROTOCOL } from '../../src/client/heartbeat-stream.js';
import { Registration } from '../../src/agent/lifecycle/registration.js';
import { adminClient, adminHeaders, mintNewToken } from '../helpers/tokens.js';
import { killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const RATE = 50;

/** A raw stream: the 101 (or the refusal's status and body), then its lines as they come. */
function openRaw(url: string, path: string, headers: Record<string, string>): Promise<{ status: number; body?: string; socket?: Duplex; lines: string[]; next(): Promise<Record<string, unknown>> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers: { ...headers, connection: 'Upgrade', upgrade: HEARTBEAT_PROTOCOL }, agent: false });
    req.once('error', reject);
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, lines: [], next: () => Promise.reject(new Error('refused')) }));
    });
    req.once('upgrade', (_res, socket, head) => {
      const lines: string[] = [];
      const waiters: Array<() => void> = [];
      let buffered = head.toString('utf8');
      const split = (): void => {
        for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line !== '') lines.push(line);
        }
        for (const w of waiters.splice(0)) w();
      };
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => { buffered += c; split(); });
      split();
      let read = 0;
      const next = async (): Promise<Record<string, unknown>> => {
        await waitFor('the next line on the stream', () => lines.length > read, { timeoutMs: 10_000, everyMs: 5 });
        return JSON.parse(lines[read++] ?? '') as Record<string, unknown>;
      };
      resolve({ status: 101, socket, lines, next });
    });
    req.end();
  });
}

describe('keep-alive heartbeat stream', () => {
  const dir = tempDir('heartbeat-stream');
  let server: ServerProcess;
  let token: string;
  const sockets: Duplex[] = [];
  before(async () => {
    server = await startServer(dir.path, ['--dns', 'off', '--rate-limit', String(RATE), '--request-timeout', '2s', '--header-timeout', '1s']);
    token = await mintNewToken(server.url, 'web');
  });
  after(() => { for (const s of sockets) s.destroy(); killAll(); dir.remove(); });

  it('acks each line in order, renews leases, names unknown instances, and outlives the request timeout', async () => {
    const web = new ControlPlaneClient(server.url, token);
    for (const id of ['w-1', 'w-2', 'w-3']) await web.register('web', id, { address: '127.0.0.1', port: 9000, ttl: '1s' });
    const raw = await openRaw(server.url, '/v1/services/web/heartbeats/stream', { authorization: `Bearer ${token}` });
    assert.equal(raw.status, 101, `the upgrade was refused: ${raw.body ?? ''}`);
    sockets.push(raw.socket!);
    const opened = await raw.next();
    assert.deepEqual([opened['type'], opened['service']], ['open', 'web'], `first line: ${JSON.stringify(opened)}`);

    // w-1 goes critical (no heartbeat within 1 s); one stream heartbeat makes it pass again.
    await waitFor('w-1 critical by TTL', async () => (await web.service('web')).service.critical >= 1, { timeoutMs: 15_000, everyMs: 100 });
    raw.socket!.write(`${JSON.stringify({ seq: 1, ids: ['w-1', 'w-2', 'w-3', 'nope'] })}\n`);
    const ack = await raw.next();
    assert.equal(ack['type'], 'ack', JSON.stringify(ack));
    assert.equal(ack['seq'], 1);
    assert.equal(ack['ok'], 3, `three heartbeats taken: ${JSON.stringify(ack)}`);
    const failed = ack['failed'] as Array<{ id: string; error: { code: string } }>;
    assert.deepEqual(failed.map((f) => [f.id, f.error.code]), [['nope', 'TRELLIS_ERR_INSTANCE_NOT_FOUND']]);
    const w1 = (await adminClient(server.url).instances('web')).instances.find((i) => i.id === 'w-1');
    assert.equal(w1?.status, 'passing', 'the stream heartbeat made the critical instance pass again');

    // A bad line is answered with its coded error; the stream goes on.
    raw.socket!.write('{not json\n');
    const bad = await raw.next();
    assert.equal(bad['type'], 'error');
    assert.equal((bad['error'] as { code: string }).code, 'TRELLIS_ERR_INVALID_JSON', JSON.stringify(bad));
    raw.socket!.write(`${JSON.stringify({ seq: 2, ids: [] })}\n`);
    const empty = await raw.next();
    assert.deepEqual([empty['type'], empty['seq'], (empty['error'] as { code: string }).code], ['error', 2, 'TRELLIS_ERR_VALIDATION']);

    // Pipelined lines are acked in order, and keep the lease alive past the 2 s request timeout.
    const started = Date.now();
    let seq = 10;
    while (Date.now() - started < 3_500) {
      const batch = [seq + 1, seq + 2, seq + 3];
      seq += 3;
      raw.socket!.write(batch.map((s) => `${JSON.stringify({ seq: s, ids: ['w-1', 'w-2', 'w-3'] })}\n`).join(''));
      for (const s of batch) {
        const a = await raw.next();
        assert.deepEqual([a['type'], a['seq'], a['ok']], ['ack', s, 3], `ack of line ${s}: ${JSON.stringify(a)}`);
      }
      await waitFor('a pause of 200 ms between heartbeats', () => Date.now() - started > (seq - 10) / 3 * 200, { everyMs: 20 });
    }
    assert.equal((await web.service('web')).service.passing, 3, 'every instance kept passing on stream heartbeats alone');
  });

  it('charges each id to the token\'s rate limit (a coded error line with retryAfterSeconds)', async () => {
    const flood = await mintNewToken(server.url, 'flood');
    await new ControlPlaneClient(server.url, flood).register('flood', 'f-1', { address: '127.0.0.1', port: 9000, ttl: '30s' });
    const raw = await openRaw(server.url, '/v1/services/flood/heartbeats/stream', { authorization: `Bearer ${flood}` });
    sockets.push(raw.socket!);
    await raw.next();
    // The bucket holds 2 × RATE; the registration took one.
    const ids = (n: number): string[] => Array.from({ length: n }, () => 'f-1');
    raw.socket!.write(`${JSON.stringify({ seq: 1, ids: ids(RATE) })}\n${JSON.stringify({ seq: 2, ids: ids(RATE * 2) })}\n`);
    const first = await raw.next();
    assert.deepEqual([first['type'], first['ok']], ['ack', RATE], `within the burst: served (${JSON.stringify(first)})`);
    const second = await raw.next();
    const error = second['error'] as { code: string; retryAfterSeconds: number };
    assert.deepEqual([second['type'], second['seq'], error.code], ['error', 2, 'TRELLIS_ERR_RATE_LIMITED'], JSON.stringify(second));
    assert.ok(error.retryAfterSeconds >= 1, 'names the wait');
  });

  it('ends the stream once its token has expired: the next line gets TOKEN_EXPIRED and the connection closes', async () => {
    const web = new ControlPlaneClient(server.url, token);
    await web.register('web', 'w-exp', { address: '127.0.0.1', port: 9000, ttl: '30s' });
    const short = await mintNewToken(server.url, 'web', '2s');
    const raw = await openRaw(server.url, '/v1/services/web/heartbeats/stream', { authorization: `Bearer ${short}` });
    assert.equal(raw.status, 101, `the upgrade was refused: ${raw.body ?? ''}`);
    sockets.push(raw.socket!);
    const closed = new Promise<void>((resolve) => raw.socket!.once('close', () => resolve()));
    await raw.next();
    // Lines are acked while the token is valid; once it expired, a line is refused and the stream ends.
    let seq = 0;
    let answer: Record<string, unknown> = {};
    await waitFor('a line refused for the expired token', async () => {
      seq += 1;
      raw.socket!.write(`${JSON.stringify({ seq, ids: ['w-exp'] })}\n`);
      answer = await raw.next();
      return answer['type'] === 'error';
    }, { timeoutMs: 20_000, everyMs: 250 });
    assert.equal((answer['error'] as { code?: string } | undefined)?.code, 'TRELLIS_ERR_TOKEN_EXPIRED', `the refusal: ${JSON.stringify(answer)}`);
    await waitFor('the stream to close', () => closed.then(() => true), { timeoutMs: 5_000 });
  });

  it('refuses a missing token, another service\'s token and a wrong protocol with coded answers; other upgrades reach the router', async () => {
    const none = await openRaw(server.url, '/v1/services/web/heartbeats/stream', {});
    assert.equal(none.status, 401, none.body);
    assert.match(none.body ?? '', /TRELLIS_ERR_TOKEN_MISSING/);
    const other = await openRaw(server.url, '/v1/services/web/heartbeats/stream', { authorization: `Bearer ${await mintNewToken(server.url, 'api')}` });
    assert.equal(other.status, 403, other.body);
    assert.match(other.body ?? '', /TRELLIS_ERR_PERMISSION_DENIED/);

    const wrong = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/v1/services/web/heartbeats/stream`, { headers: { ...adminHeaders(server.url), connection: 'Upgrade', upgrade: 'websocket' }, agent: false });
      req.once('error', reject);
      req.once('response', (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.end();
    });
    assert.equal(wrong, 400, 'another protocol is refused');

    // curl --http2 on http:// offers "Upgrade: h2c": the router answers as if no upgrade was offered.
    const listed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${server.url}/v1/services`, { headers: { ...adminHeaders(server.url), connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA' }, agent: false });
      req.once('error', reject);
      req.once('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.end();
    });
    assert.equal(listed.status, 200, listed.body);
    assert.ok(Array.isArray((JSON.parse(listed.body) as { services: unknown }).services), listed.body);
  });

  it('a sidecar\'s registration heartbeats over the stream, and over HTTP while the stream cannot carry them', async () => {
    const client = new ControlPlaneClient(server.url, await mintNewToken(server.url, 'side'));
    const registration = new Registration({
      client, service: 'side', id: 's-1', ttlMs: 900, logger: pino({ level: 'silent' }), heartbeatAckTimeoutMs: 500,
      body: { address: '127.0.0.1', port: 9100, ttl: 900 },
    });
    try {
      registration.setAppPassing(true);
      await waitFor('three heartbeats over the stream', () => registration.heartbeats.stream >= 3, { timeoutMs: 15_000 });
      assert.equal(registration.heartbeats.http, 0, 'no HTTP heartbeat while the stream works');

      // The control plane freezes: the stream's ack times out, the heartbeat goes over HTTP once it thaws.
      const { http, stream, fallbacks } = registration.heartbeats;
      server.child.kill('SIGSTOP');
      try {
        await waitFor('a stream heartbeat timing out', () => registration.heartbeats.fallbacks > fallbacks, { timeoutMs: 10_000 });
      } finally {
        server.child.kill('SIGCONT');
      }
      await waitFor('a heartbeat over HTTP after the stream failed', () => registration.heartbeats.http > http, { timeoutMs: 15_000 });
      assert.ok(registration.heartbeats.stream >= stream, 'counters only grow');
      // And back on the stream (a new connection) for the next ones.
      const streamAfter = registration.heartbeats.stream;
      await waitFor('stream heartbeats again', () => registration.heartbeats.stream > streamAfter, { timeoutMs: 15_000 });
    } finally {
      await registration.deregister();
    }
  });
});
