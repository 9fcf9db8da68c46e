/**
 * Upstreams that fail: an app that closes its connection mid-response (the client sees the
 * connection reset, both sidecars count it and keep serving) and an app that is down (its
 * sidecar answers 503 APP_UNAVAILABLE, explained).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { endpointsReached, replica, send, sidecar, startApp, url, type App, tearDown } from './helpers.js';

describe('upstream failures', () => {
  const dir = tempDir('proxy-upstream-failures');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  let server: ServerProcess;
  let caller: Sidecar;
  let cutter: Sidecar;

  before(async () => {
    server = await startServer(dir.path);
    const app = await startApp('cut', (req, res) => {
      req.resume();
      if (req.url === '/cut') {
        res.writeHead(200, { 'content-length': String(1024 * 1024) });
        res.write(Buffer.alloc(64 * 1024, 'x'), () => req.socket.destroy());
      } else {
        res.end('ok');
      }
    });
    apps.push(app);
    cutter = await replica(server.url, 'cut', app);
    caller = await sidecar({ service: 'caller', controlPlane: server.url, upstreams: ['cut'] });
    sidecars.push(cutter, caller);
    await endpointsReached(caller, 'cut', 1);
  });

  after(() => tearDown(dir, sidecars, apps));

  it('resets the client connection when the upstream closes mid-response, counts it, and keeps serving', async () => {
    const response = await request(url(caller.outbound, '/cut'), { headers: { host: 'cut' } });
    assert.equal(response.statusCode, 200);
    await assert.rejects(response.body.arrayBuffer(), 'the client sees the body break off');
    assert.equal(caller.status().listeners['outbound']?.brokenResponses, 1);
    assert.equal(cutter.status().listeners['inbound']?.brokenResponses, 1);
    const next = await send(url(caller.outbound, '/ok'), { headers: { host: 'cut' } });
    assert.equal(`${next.status} ${next.body}`, '200 ok');
  });

  it('answers 503 APP_UNAVAILABLE at the inbound side when the app is down', async () => {
    const app = await startApp('gone');
    const gone = await replica(server.url, 'gone', app, { mtls: { mode: 'permissive' } }); // called here without a mesh certificate
    sidecars.push(gone);
    await app.close();
    assert.ok(gone.inbound !== undefined);
    const answer = await send(url(gone.inbound, '/x'));
    assert.equal(answer.status, 503);
    assert.equal(answer.headers['trellis-error'], 'TRELLIS_ERR_APP_UNAVAILABLE');
    const body = JSON.parse(answer.body) as { error: { service: string; direction: string; message: string } };
    assert.equal(body.error.service, 'gone');
    assert.equal(body.error.direction, 'inbound');
    assert.match(body.error.message, /ECONNREFUSED/);
  });
});
