/**
 * Malformed and smuggling requests against both sides of the raw-socket HTTP/1.1 path: each
 * is refused with its status and `trellis-error` code (or a clean close), before any
 * upstream is tried — a good keep-alive client is served all the while, the sidecars' open
 * client connections come back to where they were, and outlier detection never ejects the
 * healthy instances for what clients did (issue 20: duplicate and missing Host).
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { type HostPort } from '../../src/util/host-port.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, send, sidecar, startApp, tearDown, url, type App } from './helpers.js';

interface Case {
  readonly name: string;
  readonly bytes: string;
  /** Status and code expected, or 'close': the connection closes (an answer allowed but none required). */
  readonly expect: { readonly status: number; readonly code: string } | 'close';
  /** Half-close after writing (a truncated body). */
  readonly end?: boolean;
}

const head = (lines: string[]): string => `${lines.join('\r\n')}\r\n\r\n`;
const BAD = 'TRELLIS_ERR_BAD_REQUEST';

const CASES: readonly Case[] = [
  { name: 'bad request line', bytes: 'GET /\r\nHost: hello\r\n\r\n', expect: { status: 400, code: BAD } },
  { name: 'garbage', bytes: '\x00\x01\x02\xff hello\r\n\r\n', expect: { status: 400, code: BAD } },
  { name: 'bad header name byte', bytes: head(['GET / HTTP/1.1', 'Host: hello', 'X\x01y: z']), expect: { status: 400, code: BAD } },
  { name: 'bad header value byte', bytes: head(['GET / HTTP/1.1', 'Host: hello', 'X-A: b\x7f']), expect: { status: 400, code: BAD } },
  { name: 'oversized head', bytes: head(['GET / HTTP/1.1', 'Host: hello', `X-Big: ${'a'.repeat(20_000)}`]), expect: { status: 431, code: 'TRELLIS_ERR_HEADERS_TOO_LARGE' } },
  { name: 'too many header fields', bytes: head(['GET / HTTP/1.1', 'Host: hello', ...Array.from({ length: 300 }, (_, i) => `X-${i}: v`)]), expect: { status: 431, code: 'TRELLIS_ERR_HEADERS_TOO_LARGE' } },
  { name: 'Content-Length with Transfer-Encoding', bytes: head(['POST / HTTP/1.1', 'Host: hello', 'Content-Length: 5', 'Transfer-Encoding: chunked']) + '0\r\n\r\n', expect: { status: 400, code: BAD } },
  { name: 'duplicate Content-Length', bytes: head(['POST / HTTP/1.1', 'Host: hello', 'Content-Length: 3', 'Content-Length: 3']) + 'abc', expect: { status: 400, code: BAD } },
  { name: 'bad Content-Length', bytes: head(['POST / HTTP/1.1', 'Host: hello', 'Content-Length: 3x']) + 'abc', expect: { status: 400, code: BAD } },
  { name: 'obs-fold', bytes: head(['GET / HTTP/1.1', 'Host: hello', 'X-A: b', ' c']), expect: { status: 400, code: BAD } },
  { name: 'Transfer-Encoding other than chunked last', bytes: head(['POST / HTTP/1.1', 'Host: hello', 'Transfer-Encoding: chunked, gzip']) + 'abc', expect: { status: 400, code: BAD } },
  { name: 'bad chunk size', bytes: head(['POST / HTTP/1.1', 'Host: hello', 'Transfer-Encoding: chunked']) + 'zz\r\nabc\r\n0\r\n\r\n', expect: 'close' },
  { name: 'truncated chunked body', bytes: head(['POST / HTTP/1.1', 'Host: hello', 'Transfer-Encoding: chunked']) + '5\r\nab', expect: 'close', end: true },
  { name: 'duplicate Host', bytes: head(['GET / HTTP/1.1', 'Host: hello', 'Host: hello']), expect: { status: 400, code: BAD } },
  { name: 'missing Host', bytes: head(['GET / HTTP/1.1', 'Accept: */*']), expect: { status: 400, code: BAD } },
  { name: 'CONNECT', bytes: head(['CONNECT hello:443 HTTP/1.1', 'Host: hello:443']), expect: { status: 400, code: BAD } },
  { name: 'head too slow', bytes: 'GET / HTTP/1.1\r\nHost: hel', expect: { status: 408, code: 'TRELLIS_ERR_REQUEST_TIMEOUT' } },
];

/** Write `bytes` on a fresh connection and collect everything until the server closes it. */
function exchange(at: HostPort, bytes: string, end: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(at.port, at.host, () => {
      socket.write(Buffer.from(bytes, 'latin1'));
      if (end) socket.end();
    });
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => { text += chunk; });
    socket.on('close', () => resolve(text));
    socket.on('error', (err: Error & { code?: string }) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    socket.setTimeout(15_000, () => reject(new Error(`no close within 15 s; got ${JSON.stringify(text.slice(0, 200))}`)));
  });
}

function connections(sidecar: Sidecar, listener: string): number {
  const value = sidecar.status().listeners[listener]?.connections;
  assert.ok(value !== undefined, `the ${listener} listener counts its connections`);
  return value;
}

describe('malformed and smuggling requests, both sides', () => {
  const dir = tempDir('proxy-malformed');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  let server: ServerProcess;
  let caller: Sidecar;
  let replicas: Sidecar[] = [];
  const http = { headersTimeout: '1s', requestTimeout: '2s', keepAliveTimeout: '1s' };

  before(async () => {
    server = await startServer(dir.path);
    for (const name of ['a', 'b']) {
      const app = await startApp(name, (req, res) => {
        if (req.url === '/big') {
          // 64 MiB, written with backpressure: more than any socket buffer holds.
          const chunk = Buffer.alloc(1024 * 1024, 120);
          let left = 64;
          const more = (): void => {
            while (left > 0) {
              left -= 1;
              if (!res.write(chunk)) return void res.once('drain', more);
            }
            res.end();
          };
          more();
          return;
        }
        req.resume();
        req.once('end', () => res.end(name));
      });
      apps.push(app);
    }
    replicas = await Promise.all(apps.map((app) => replica(server.url, 'hello', app, { http, mtls: { mode: 'permissive' } })));
    sidecars.push(...replicas);
    caller = await sidecar({ service: 'caller', controlPlane: server.url, http, upstreams: ['hello'] });
    sidecars.push(caller);
    await endpointsReached(caller, 'hello', 2);
  });

  after(() => tearDown(dir, sidecars, apps));

  for (const side of ['outbound', 'inbound'] as const) {
    it(`refuses each with its code on the ${side} side while a good client is served, and leaks no connection`, async () => {
      const target = side === 'outbound' ? caller : replicas[0];
      const at = side === 'outbound' ? caller.outbound : (target.inbound as HostPort);
      const good = new Pool(url(at), { connections: 1 });
      const baseline = connections(target, side);
      let served = 0;
      let running = true;
      const failures: string[] = [];
      const goodClient = (async () => {
        while (running) {
          const answer = await send(url(at, '/good'), { headers: { host: 'hello' }, dispatcher: good });
          if (answer.status === 200) served += 1;
          else failures.push(`${answer.status} ${answer.body}`);
        }
      })();
      try {
        for (const c of CASES) {
          const text = await exchange(at, c.bytes, c.end === true);
          if (c.expect === 'close') {
            if (text !== '') assert.match(text, /^HTTP\/1\.1 4\d\d /, `${c.name}: an answer, if any, is a 4xx`);
            continue;
          }
          const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1]);
          assert.equal(status, c.expect.status, `${c.name}: status (got ${JSON.stringify(text.slice(0, 300))})`);
          assert.match(text, new RegExp(`\r\ntrellis-error: ${c.expect.code}\r\n`, 'i'), `${c.name}: code`);
          assert.match(text, /\r\nconnection: close\r\n/i, `${c.name}: the connection closes`);
        }
      } finally {
        running = false;
        await goodClient;
        await good.close();
      }
      assert.deepEqual(failures, [], 'the good client got only 200s');
      assert.ok(served > 0, 'the good client was served meanwhile');
      await waitFor(`the ${side} side's connections back to ${baseline}`, () => connections(target, side) <= baseline, { timeoutMs: 10_000 });
      // A client that stops reading a large answer is cut off (requestTimeout 2 s), not kept forever.
      const before = connections(target, side);
      const stalled: Socket = connect(at.port, at.host, () => stalled.write(head(['GET /big HTTP/1.1', 'Host: hello'])));
      stalled.on('error', () => undefined);
      stalled.pause();
      await waitFor(`the stalled reader to be counted (${before} before)`, () => connections(target, side) > before, { timeoutMs: 5_000 });
      await waitFor('the stalled reader to be disconnected', () => connections(target, side) <= before, { timeoutMs: 15_000 });
      stalled.destroy();
      assert.ok((target.status().listeners[side]?.clientErrors ?? 0) >= CASES.length - 2, 'client errors are counted');
    });
  }

  it('never ejected a healthy instance for what clients did', async () => {
    assert.deepEqual(caller.status().upstreams['hello']?.ejected ?? [], []);
    const metrics = await send(url(caller.admin, '/metrics'));
    const ejections = metrics.body.split('\n').filter((line) => line.startsWith('trellis_outlier_ejections_total{'));
    for (const line of ejections) assert.match(line, / 0$/, line);
    // Both instances still take requests.
    const answers = new Set<string>();
    for (let i = 0; i < 6; i++) answers.add((await send(url(caller.outbound, '/'), { headers: { host: 'hello' } })).body);
    assert.deepEqual([...answers].sort(), ['a', 'b']);
  });
});
