/**
 * How requests name their service — HTTP proxy (curl -x), Host header, a per-upstream
 * port, raw TCP on a tcp upstream port — and the answers to bad input: unknown service,
 * no healthy instance, over-long headers, a malformed request line, a slow client. The
 * proxy keeps serving afterwards.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { adminClient } from '../helpers/tokens.js';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { formatHostPort, type HostPort } from '../../src/util/host-port.js';
import { killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { endpointsReached, replica, send, sidecar, startApp, url, type App } from './helpers.js';

const run = promisify(execFile);

async function curl(...args: string[]): Promise<{ status: number; headers: string; body: string }> {
  const { stdout } = await run('curl', ['-s', '-i', '--max-time', '10', ...args]);
  const split = stdout.indexOf('\r\n\r\n');
  const headers = stdout.slice(0, split);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1]), headers: headers.toLowerCase(), body: stdout.slice(split + 4) };
}

/** Write `bytes` on a fresh connection and collect everything until the server closes it. */
function raw(at: HostPort, bytes: string, endAfterWrite = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(at.port, at.host, () => {
      socket.write(bytes);
      if (endAfterWrite) socket.end();
    });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { text += chunk; });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('routing and bad input at the outbound side', () => {
  const dir = tempDir('proxy-routing');
  const sidecars: Sidecar[] = [];
  let server: ServerProcess;
  let app: App;
  let echo: Server;
  let caller: Sidecar;

  before(async () => {
    server = await startServer(dir.path);
    app = await startApp('hello', (req, res) => {
      req.resume();
      res.end(`hello ${req.url} host=${req.headers.host} xff=${req.headers['x-forwarded-for']} rid=${req.headers['x-request-id'] === undefined ? 'none' : 'set'}`);
    });
    echo = createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const echoPort = (echo.address() as { port: number }).port;
    sidecars.push(await replica(server.url, 'hello', app));
    sidecars.push(await sidecar({ service: 'echo', id: 'echo-1', controlPlane: server.url, ttl: '1s', app: { port: echoPort, protocol: 'tcp', health: { interval: '200ms' } } }));
    caller = await sidecar({
      service: 'caller',
      controlPlane: server.url,
      http: { maxHeaderSize: 4_096, headersTimeout: '400ms' },
      upstreams: [{ service: 'hello', port: 0 }, { service: 'echo', port: 0, protocol: 'tcp' }, 'ghost'],
    });
    sidecars.push(caller);
    await endpointsReached(caller, 'hello', 1);
    await endpointsReached(caller, 'echo', 1);
  });

  after(async () => {
    await Promise.all(sidecars.map((s) => s.close()));
    await app.close();
    echo.close();
    killAll();
    dir.remove();
  });

  it('routes an HTTP proxy request (curl -x) by the service in the URL', async () => {
    const answer = await curl('-x', `http://${formatHostPort(caller.outbound)}`, 'http://hello/greet?x=1');
    assert.equal(answer.status, 200);
    assert.match(answer.body, /^hello \/greet\?x=1 host=hello xff=127\.0\.0\.1, 127\.0\.0\.1 rid=set$/);
  });

  it('routes by Host header', async () => {
    const answer = await curl('-H', 'Host: hello:8080', url(caller.outbound, '/by-host'));
    assert.equal(answer.status, 200);
    assert.match(answer.body, /^hello \/by-host host=hello:8080/);
  });

  it('routes everything on a per-upstream port to its service', async () => {
    const port = caller.upstreamPorts['hello'];
    assert.ok(port !== undefined);
    const answer = await curl(url(port, '/on-port'));
    assert.equal(answer.status, 200);
    assert.match(answer.body, /^hello \/on-port /);
  });

  it('relays raw TCP on a tcp upstream port to the echo service', async () => {
    const port = caller.upstreamPorts['echo'];
    assert.ok(port !== undefined);
    const payload = `ping ${'x'.repeat(100_000)} pong\n`;
    assert.equal(await raw(port, payload, true), payload);
  });

  it('tries another endpoint when a TCP connect fails', async () => {
    // An instance registered at a port nobody listens on: connects to it are refused.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await adminClient(server.url).register('echo', 'echo-dead', { address: '127.0.0.1', port: deadPort });
    await endpointsReached(caller, 'echo', 2);
    const port = caller.upstreamPorts['echo'];
    assert.ok(port !== undefined);
    for (let i = 0; i < 4; i += 1) assert.equal(await raw(port, `hello ${i}`, true), `hello ${i}`);
    await adminClient(server.url).deregister('echo', 'echo-dead');
  });

  it('answers an unknown service with 404 NO_ROUTE naming it', async () => {
    const answer = await curl('-x', `http://${formatHostPort(caller.outbound)}`, 'http://payments/x');
    assert.equal(answer.status, 404);
    assert.match(answer.headers, /^trellis-error: trellis_err_no_route$/m);
    const body = JSON.parse(answer.body) as { error: { code: string; service: string; message: string } };
    assert.equal(body.error.code, 'TRELLIS_ERR_NO_ROUTE');
    assert.equal(body.error.service, 'payments');
    assert.match(body.error.message, /"payments"/);
  });

  it('answers a service without a healthy instance with 503 NO_HEALTHY_ENDPOINT', async () => {
    const answer = await send(url(caller.outbound, '/x'), { headers: { host: 'ghost' } });
    assert.equal(answer.status, 503);
    assert.equal(answer.headers['trellis-error'], 'TRELLIS_ERR_NO_HEALTHY_ENDPOINT');
    assert.match(answer.body, /ghost/);
  });

  it('answers over-long headers with 431', async () => {
    const answer = await curl('-H', `x-big: ${'a'.repeat(8_000)}`, '-H', 'Host: hello', url(caller.outbound, '/x'));
    assert.equal(answer.status, 431);
    assert.match(answer.headers, /^trellis-error: trellis_err_headers_too_large$/m);
  });

  it('answers a malformed request line with 400', async () => {
    const text = await raw(caller.outbound, 'GET /a b c HTTP/9\r\nHost: hello\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 400 /);
    assert.match(text, /trellis-error: TRELLIS_ERR_BAD_REQUEST/);
  });

  it('answers a client too slow to send its headers with 408', async () => {
    const started = Date.now();
    const text = await raw(caller.outbound, 'GET / HTTP/1.1\r\nHost: hello\r\n');
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.match(text, /trellis-error: TRELLIS_ERR_REQUEST_TIMEOUT/);
    assert.ok(Date.now() - started < 5_000);
  });

  it('refuses CONNECT tunnels with an explained 400', async () => {
    const text = await raw(caller.outbound, 'CONNECT hello:443 HTTP/1.1\r\nHost: hello:443\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 400 /);
    assert.match(text, /CONNECT tunnels are not supported/);
  });

  it('keeps serving after all that', async () => {
    const answer = await send(url(caller.outbound, '/still'), { headers: { host: 'hello' } });
    assert.equal(answer.status, 200);
    assert.match(answer.body, /^hello \/still /);
    assert.ok(caller.status().listeners['outbound'] !== undefined);
  });
});
