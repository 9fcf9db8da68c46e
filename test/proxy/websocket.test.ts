/**
 * WebSocket through two sidecars: a ws echo server as the app behind its sidecar, ws
 * clients through the caller's sidecar (per-upstream port and Host header). Messages
 * round-trip; a close from either side ends both; each tunnel is counted when it closes
 * (the TCP metrics, protocol websocket); an upgrade with nowhere to go gets the proxy's
 * explained answer.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { formatHostPort, type HostPort } from '../../src/util/host-port.js';
import { killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { metricValue } from '../telemetry/prometheus.js';
import { endpointsReached, replica, sidecar, startApp, url, type App } from './helpers.js';

/** An open client and the app's greeting (listened for before the open: it may come in the same packet as the 101). */
function open(at: HostPort, path: string, headers: Record<string, string> = {}): Promise<{ socket: WebSocket; greeting: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://${formatHostPort(at)}${path}`, { headers });
    const greeting = nextMessage(socket);
    socket.once('open', () => resolve({ socket, greeting }));
    socket.once('error', reject);
  });
}

function nextMessage(socket: WebSocket): Promise<string> {
  return new Promise((resolve) => socket.once('message', (data: Buffer) => resolve(data.toString())));
}

function closed(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) resolve(-1);
    else socket.once('close', (code: number) => resolve(code));
  });
}

/** The refused upgrade's answer: status, trellis-error and body. */
function refused(at: HostPort, headers: Record<string, string>): Promise<{ status: number; error: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://${formatHostPort(at)}/`, { headers });
    socket.once('unexpected-response', (_req, res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, error: res.headers['trellis-error'] as string | undefined, body }));
    });
    socket.once('open', () => reject(new Error('the upgrade should have been refused')));
    socket.once('error', (err) => { if (!/Unexpected server response/.test(err.message)) reject(err); });
  });
}

describe('WebSocket through two sidecars', () => {
  const dir = tempDir('proxy-websocket');
  const sidecars: Sidecar[] = [];
  let server: ServerProcess;
  let app: App;
  let wss: WebSocketServer;
  let caller: Sidecar;
  let chatPort: HostPort;

  before(async () => {
    server = await startServer(dir.path);
    app = await startApp('chat');
    wss = new WebSocketServer({ server: app.server });
    wss.on('connection', (socket, req) => {
      socket.send(`hello ${req.url} host=${req.headers.host} rid=${req.headers['x-request-id'] === undefined ? 'none' : 'set'}`);
      socket.on('message', (data: Buffer) => {
        const text = data.toString();
        if (text === 'close please') socket.close(4000, 'as asked');
        else socket.send(`echo ${text}`);
      });
    });
    sidecars.push(await replica(server.url, 'chat', app));
    caller = await sidecar({ service: 'caller', controlPlane: server.url, upstreams: [{ service: 'chat', port: 0 }, 'ghost'] });
    sidecars.push(caller);
    await endpointsReached(caller, 'chat', 1);
    const port = caller.upstreamPorts['chat'];
    assert.ok(port !== undefined);
    chatPort = port;
  });

  after(async () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
    await Promise.all(sidecars.map((s) => s.close()));
    await app.close();
    killAll();
    dir.remove();
  });

  it('round-trips messages on the per-upstream port, and a client close ends both sides', async () => {
    const { socket, greeting } = await open(chatPort, '/room/1');
    assert.match(await greeting, /^hello \/room\/1 host=127\.0\.0\.1:\d+ rid=set$/);
    for (const text of ['one', 'two', 'x'.repeat(200_000)]) {
      const reply = nextMessage(socket);
      socket.send(text);
      assert.equal(await reply, `echo ${text}`);
    }
    assert.equal(caller.status().listeners['upstream chat']?.upgrades, 1);
    socket.close(1000, 'done');
    assert.equal(await closed(socket), 1000);
    await waitFor('the app side to close', () => wss.clients.size === 0);
    await waitFor('the tunnels to be gone', () => caller.status().listeners['upstream chat']?.inFlight === 0);
  });

  it('routes by Host header on the outbound listener, and a server close ends both sides', async () => {
    const { socket, greeting } = await open(caller.outbound, '/by-host', { host: 'chat' });
    assert.match(await greeting, /^hello \/by-host host=chat /);
    const reply = nextMessage(socket);
    socket.send('ping');
    assert.equal(await reply, 'echo ping');
    socket.send('close please');
    assert.equal(await closed(socket), 4000);
    await waitFor('the app side to close', () => wss.clients.size === 0);
    await waitFor('the tunnels to be gone', () => caller.status().listeners['outbound']?.inFlight === 0);
  });

  it('ends the client when the app drops the connection', async () => {
    const { socket, greeting } = await open(chatPort, '/drop');
    await greeting;
    await waitFor('the app to see the client', () => wss.clients.size === 1);
    for (const client of wss.clients) client.terminate();
    assert.equal(await closed(socket), 1006);
  });

  it('counts each closed tunnel, with its bytes, on both sides (protocol websocket)', async () => {
    const tunnels = { dst_service: 'chat', protocol: 'websocket', class: 'success', error: '' };
    const scrape = async (s: Sidecar): Promise<string> => (await fetch(url(s.admin, '/metrics'))).text();
    const [callerSide, appSide] = await waitFor('three closed tunnels counted on both sides', async () => {
      const texts = await Promise.all([scrape(caller), scrape(sidecars[0])]);
      const counted = [
        metricValue(texts[0], 'trellis_tcp_connections_total', { ...tunnels, direction: 'outbound' }),
        metricValue(texts[1], 'trellis_tcp_connections_total', { ...tunnels, direction: 'inbound' }),
      ];
      return counted.every((n) => n === 3) ? texts : undefined;
    });
    // The 200 kB message went up and came back (framing and the upgrade heads on top).
    for (const [text, direction] of [[callerSide, 'outbound'], [appSide, 'inbound']] as const) {
      const labels = { dst_service: 'chat', protocol: 'websocket', direction };
      assert.ok((metricValue(text, 'trellis_tcp_sent_bytes_total', labels) ?? 0) > 200_000, `${direction}: bytes sent`);
      assert.ok((metricValue(text, 'trellis_tcp_received_bytes_total', labels) ?? 0) > 200_000, `${direction}: bytes received`);
      assert.equal(metricValue(text, 'trellis_tcp_open_connections', labels), 0, `${direction}: none open`);
    }
  });

  it('answers an upgrade with no healthy instance with the explained 503', async () => {
    const answer = await refused(caller.outbound, { host: 'ghost' });
    assert.equal(answer.status, 503);
    assert.equal(answer.error, 'TRELLIS_ERR_NO_HEALTHY_ENDPOINT');
    assert.match(answer.body, /ghost/);
  });

  it('answers an upgrade for an unknown service with 404 NO_ROUTE', async () => {
    const answer = await refused(caller.outbound, { host: 'nowhere' });
    assert.equal(answer.status, 404);
    assert.equal(answer.error, 'TRELLIS_ERR_NO_ROUTE');
  });

  it('passes on an app that refuses the upgrade', async () => {
    const plain = await startApp('plain', (req, res) => {
      req.resume();
      res.statusCode = 426;
      res.end('no websockets here');
    });
    const other = await replica(server.url, 'chat', plain);
    sidecars.push(other);
    try {
      await endpointsReached(caller, 'chat', 2);
      // Round-robin: one of two upgrades goes to the plain app.
      const answers = [await refused(chatPort, {}).catch(() => undefined), await refused(chatPort, {}).catch(() => undefined)];
      const refusedOne = answers.find((a) => a !== undefined);
      assert.ok(refusedOne !== undefined);
      assert.equal(refusedOne.status, 426);
      assert.equal(refusedOne.body, 'no websockets here');
    } finally {
      for (const client of wss.clients) client.terminate();
      await other.close();
      await plain.close();
    }
  });
});
