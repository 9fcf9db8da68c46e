/**
 * What node:http gave the sidecar, kept on the raw-socket HTTP/1.1 path: HEAD/204/304
 * without bodies, Expect: 100-continue, HTTP/1.0 clients, pipelining, chunked request
 * bodies re-framed, HTTP/2 prior knowledge on the same port, an app that closes
 * mid-response (a coded error, never a hang) and a response body that stalls (the body idle
 * timeout). Real clients: curl and raw sockets.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { formatHostPort, type HostPort } from '../../src/util/host-port.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, sidecar, startApp, tearDown, url, type App } from './helpers.js';

const run = promisify(execFile);

async function curl(...args: string[]): Promise<{ status: number; head: string; body: string }> {
  const { stdout } = await run('curl', ['-s', '-i', '--max-time', '15', ...args], { encoding: 'latin1' });
  // Skip interim (100 Continue) heads.
  let text = stdout;
  while (/^HTTP\/[\d.]+ 1\d\d /.test(text)) text = text.slice(text.indexOf('\r\n\r\n') + 4);
  const split = text.indexOf('\r\n\r\n');
  const head = text.slice(0, split);
  return { status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(head)?.[1]), head: head.toLowerCase(), body: text.slice(split + 4) };
}

/** Write `bytes`, read until the server closes (or `until` matches what came). */
function raw(at: HostPort, bytes: string, until?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(at.port, at.host, () => socket.write(bytes, 'latin1'));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (until?.test(text) === true) socket.destroy();
    });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    socket.setTimeout(15_000, () => reject(new Error(`no answer within 15 s: ${JSON.stringify(text)}`)));
  });
}

describe('HTTP/1.1 semantics on the raw-socket path', () => {
  const dir = tempDir('proxy-http1-raw');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  let server: ServerProcess;
  let caller: Sidecar;

  before(async () => {
    server = await startServer(dir.path);
    const app = await startApp('raw', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        switch (req.url) {
          case '/204': res.writeHead(204).end(); return;
          case '/304': res.writeHead(304, { etag: '"x"' }).end(); return;
          case '/chunked': res.write('part1-'); setTimeout(() => res.end('part2'), 100); return; // the second part comes later: streamed
          case '/cut': res.writeHead(200, { 'content-length': '100' }); res.write('only a part'); setImmediate(() => res.socket?.destroy()); return;
          case '/die': req.socket.destroy(); return;
          case '/stall': res.writeHead(200, { 'content-length': '100' }); res.write('first bytes'); return; // never ends
          default: res.setHeader('x-echo-te', String(req.headers['transfer-encoding'] ?? 'none')); res.end(`${req.method} ${req.url} ${body}`);
        }
      });
    });
    apps.push(app);
    sidecars.push(await replica(server.url, 'hello', app));
    caller = await sidecar({ service: 'caller', controlPlane: server.url, upstreams: ['hello'], http: { bodyIdleTimeout: '1s' } });
    sidecars.push(caller);
    await endpointsReached(caller, 'hello', 1);
  });

  after(() => tearDown(dir, sidecars, apps));

  const out = (path: string): string => url(caller.outbound, path);

  it('answers HEAD, 204 and 304 without a body', async () => {
    const head = await curl('-I', '-H', 'Host: hello', out('/x'));
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    // The connection stays usable after a HEAD (no body was expected of it).
    const twice = await raw(caller.outbound, 'HEAD /a HTTP/1.1\r\nHost: hello\r\n\r\nGET /b HTTP/1.1\r\nHost: hello\r\nConnection: close\r\n\r\n');
    assert.match(twice, /^HTTP\/1\.1 200 [^]*HTTP\/1\.1 200 [^]*GET \/b $/);
    for (const status of [204, 304]) {
      const answer = await curl('-H', 'Host: hello', out(`/${status}`));
      assert.equal(answer.status, status);
      assert.equal(answer.body, '');
    }
  });

  it('meets Expect: 100-continue and re-frames a chunked request body', async () => {
    const answer = await curl('-H', 'Host: hello', '-H', 'Expect: 100-continue', '-H', 'Transfer-Encoding: chunked', '--data-binary', 'payload', out('/post'));
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'POST /post payload');
  });

  it('streams a response without Content-Length to HTTP/1.1 chunked and to HTTP/1.0 until close', async () => {
    const chunked = await curl('-H', 'Host: hello', out('/chunked'));
    assert.equal(chunked.body, 'part1-part2');
    assert.match(chunked.head, /transfer-encoding: chunked/);
    const old = await raw(caller.outbound, 'GET /chunked HTTP/1.0\r\nHost: hello\r\n\r\n');
    assert.match(old, /^HTTP\/1\.1 200 /);
    assert.match(old, /\r\n\r\npart1-part2$/);
  });

  it('answers pipelined requests in order on one connection', async () => {
    const text = await raw(caller.outbound, 'GET /one HTTP/1.1\r\nHost: hello\r\n\r\nGET /two HTTP/1.1\r\nHost: hello\r\n\r\nGET /three HTTP/1.1\r\nHost: hello\r\nConnection: close\r\n\r\n');
    const bodies = [...text.matchAll(/GET \/(\w+) /g)].map((m) => m[1]);
    assert.deepEqual(bodies, ['one', 'two', 'three']);
  });

  it('takes HTTP/2 with prior knowledge on the same port', async () => {
    const answer = await curl('--http2-prior-knowledge', '-H', 'Host: hello', out('/h2'));
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'GET /h2 ');
  });

  it('gives the caller a coded error when the app closes before answering, and cuts a response the app breaks off', async () => {
    const died = await curl('-H', 'Host: hello', out('/die'));
    assert.equal(died.status, 502);
    assert.match(died.head, /trellis-error: trellis_err_upstream_reset/);
    // Mid-body: the client sees its connection end short (curl: exit 18, partial file), never a hang.
    await assert.rejects(run('curl', ['-s', '--max-time', '15', '-H', 'Host: hello', out('/cut')]), (err: { code?: number }) => err.code === 18 || err.code === 56);
  });

  it('fails a response body that stalls (body idle timeout), not minutes later', async () => {
    const started = Date.now();
    await assert.rejects(run('curl', ['-s', '--max-time', '20', '-H', 'Host: hello', out('/stall')]), (err: { code?: number }) => err.code === 18 || err.code === 56);
    assert.ok(Date.now() - started < 15_000, 'cut well before curl gave up');
    assert.ok((caller.status().listeners['outbound']?.brokenResponses ?? 0) >= 1);
  });

  it('still runs the former node:http + undici path behind http.engine: node', async () => {
    const legacy = await sidecar({ service: 'legacy', controlPlane: server.url, upstreams: ['hello'], http: { engine: 'node' } });
    sidecars.push(legacy);
    await endpointsReached(legacy, 'hello', 1);
    const answer = await curl('-H', 'Host: hello', url(legacy.outbound, '/legacy'));
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'GET /legacy ');
    const twoHosts = await raw(legacy.outbound, 'GET / HTTP/1.1\r\nHost: hello\r\nHost: hello\r\n\r\n');
    assert.match(twoHosts, /^HTTP\/1\.1 400 [^]*trellis-error: TRELLIS_ERR_BAD_REQUEST/i);
  });

  it('never hands out a pooled connection the app has closed', async () => {
    const closing = await startApp('closing');
    closing.server.keepAliveTimeout = 50; // the app closes idle connections long before the pool would
    apps.push(closing);
    sidecars.push(await replica(server.url, 'closer', closing));
    const callerOfCloser = await sidecar({ service: 'caller2', controlPlane: server.url, upstreams: ['closer'] });
    sidecars.push(callerOfCloser);
    await endpointsReached(callerOfCloser, 'closer', 1);
    const connectionsOf = (): Promise<number> => new Promise((resolve, reject) => closing.server.getConnections((err, n) => (err === null ? resolve(n) : reject(err))));
    for (let i = 0; i < 5; i++) {
      const answer = await curl('-H', 'Host: closer', url(callerOfCloser.outbound, `/${i}`));
      assert.equal(answer.status, 200, `request ${i} on a fresh connection, not the closed one: ${answer.body}`);
      await waitFor('the app to close its idle connection', async () => (await connectionsOf()) === 0, { timeoutMs: 5_000 });
    }
  });

  it('keeps serving afterwards', async () => {
    const answer = await curl('-x', `http://${formatHostPort(caller.outbound)}`, 'http://hello/after');
    assert.equal(answer.status, 200);
  });
});
