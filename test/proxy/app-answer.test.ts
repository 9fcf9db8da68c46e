/**
 * `trellis-error` is the mark of a sidecar's own answer, and a calling sidecar acts on it: a
 * peer's 503 `TRELLIS_ERR_APP_UNAVAILABLE` means "never reached the app", retried whatever the
 * method. So (1) an app cannot forge it — its inbound sidecar removes the header from every app
 * response, and a POST the app answered with a forged 503 reaches it once; (2) a caller
 * believes a peer's code only over mutual TLS: with mTLS off the same genuine answer is an
 * ordinary 503, and a POST is not sent again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { metricValue } from '../telemetry/prometheus.js';
import { endpointsReached, replica, send, sidecar, startApp, url, type App, tearDown } from './helpers.js';

async function retries(caller: Sidecar, service: string): Promise<number> {
  const { body } = await send(url(caller.admin, '/metrics'));
  return metricValue(body, 'trellis_retries_total', { dst_service: service }) ?? 0;
}

describe('trellis-error: only sidecars set it, only authenticated peers are believed', () => {
  const dir = tempDir('proxy-app-answer');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  let server: ServerProcess;
  let caller: Sidecar;
  let posts = 0;

  before(async () => {
    server = await startServer(dir.path);
    const forger = await startApp('forger', (req, res) => {
      req.resume();
      if (req.method === 'POST') posts += 1;
      if (req.url === '/forge') {
        res.writeHead(503, { 'trellis-error': 'TRELLIS_ERR_APP_UNAVAILABLE', 'content-type': 'text/plain' });
        res.end('forged by the app');
      } else {
        res.writeHead(200, { 'trellis-error': 'TRELLIS_ERR_CIRCUIT_OPEN', 'x-app': 'kept' });
        res.end('fine');
      }
    });
    apps.push(forger);
    sidecars.push(await replica(server.url, 'forger', forger));
    caller = await sidecar({ service: 'caller', controlPlane: server.url, upstreams: ['forger', 'gone'] });
    sidecars.push(caller);
    await endpointsReached(caller, 'forger', 1);
  });

  after(() => tearDown(dir, sidecars, apps));

  it("an app's forged 503 APP_UNAVAILABLE loses the header at its sidecar: the POST is not retried, the app sees it once", async () => {
    const answer = await send(url(caller.outbound, '/forge'), { method: 'POST', body: 'once', headers: { host: 'forger' } });
    assert.equal(answer.status, 503, 'the app\'s own status is passed on');
    assert.equal(answer.body, 'forged by the app', 'the app\'s own body is passed on');
    assert.equal(answer.headers['trellis-error'], undefined, 'no trellis-error: the inbound sidecar removed the app\'s');
    assert.equal(posts, 1, 'the app received the POST exactly once');
    assert.equal(await retries(caller, 'forger'), 0, 'the caller made no retry');
  });

  it('any trellis-error an app sets is removed, the rest of its answer kept', async () => {
    const answer = await send(url(caller.outbound, '/ok'), { headers: { host: 'forger' } });
    assert.equal(`${answer.status} ${answer.body}`, '200 fine');
    assert.equal(answer.headers['trellis-error'], undefined, 'the app\'s trellis-error is gone');
    assert.equal(answer.headers['x-app'], 'kept', 'other headers of the app are kept');
  });

  /** A replica whose app has gone but is still registered as passing (100 failed checks, 1 s apart, before critical). */
  async function deadAppReplica(service: string, mode: 'strict' | 'off', seenBy: Sidecar): Promise<void> {
    const app = await startApp(`${service}-app`);
    apps.push(app);
    sidecars.push(await replica(server.url, service, app, { app: { port: app.port, health: { interval: '1s', failuresBeforeCritical: 100 } }, mtls: { mode } }));
    await endpointsReached(seenBy, service, 1); // passing: its first check succeeded
    await app.close();
  }

  it("over mTLS a peer's genuine APP_UNAVAILABLE is believed: the POST is sent again", async () => {
    await deadAppReplica('gone', 'strict', caller);
    const answer = await send(url(caller.outbound, '/x'), { method: 'POST', body: 'p', headers: { host: 'gone' } });
    assert.equal(answer.status, 503, `no instance left to answer (${answer.body})`);
    assert.ok(await retries(caller, 'gone') >= 1, 'the POST was retried: the peer said it never reached its app');
  });

  it("with mTLS off the same answer is not believed (anything at the address could have said it): no retry, the peer's answer passed on", async () => {
    const plain = await sidecar({ service: 'plain-caller', controlPlane: server.url, upstreams: ['gone-plain'], mtls: { mode: 'off' } });
    sidecars.push(plain);
    await deadAppReplica('gone-plain', 'off', plain);
    const answer = await send(url(plain.outbound, '/x'), { method: 'POST', body: 'p', headers: { host: 'gone-plain' } });
    assert.equal(answer.status, 503);
    assert.equal(answer.headers['trellis-error'], 'TRELLIS_ERR_APP_UNAVAILABLE', 'the peer sidecar\'s own answer keeps its code');
    assert.equal(await retries(plain, 'gone-plain'), 0, 'the POST was not sent again');
  });
});
