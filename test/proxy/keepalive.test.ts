/**
 * 10,000 keep-alive requests over 50 connections through a sidecar pair (outbound → inbound
 * over mutual TLS → app): the pools' sockets stay bounded by the connections in use (the
 * app sees the inbound pool's; the inbound listener counts the outbound pool's), and once
 * idle the keep-alive timeouts bring the process's handles back to where they started.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, send, sidecar, startApp, tearDown, url, type App } from './helpers.js';

const CONNECTIONS = 50;

function appConnections(app: App): Promise<number> {
  return new Promise((resolve, reject) => app.server.getConnections((err, count) => (err === null ? resolve(count) : reject(err))));
}

function handles(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind !== 'Timeout' && kind !== 'Immediate').length;
}

describe('keep-alive at volume', () => {
  const dir = tempDir('proxy-keepalive');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  let server: ServerProcess;
  let caller: Sidecar;
  let peer: Sidecar;

  before(async () => {
    server = await startServer(dir.path);
    const app = await startApp('a');
    apps.push(app);
    peer = await replica(server.url, 'hello', app);
    sidecars.push(peer);
    caller = await sidecar({ service: 'caller', controlPlane: server.url, upstreams: ['hello'] });
    sidecars.push(caller);
    await endpointsReached(caller, 'hello', 1);
  });

  after(() => tearDown(dir, sidecars, apps));

  it('10,000 requests over 50 connections leave no growth in pool sockets or handles', async () => {
    const client = new Pool(url(caller.outbound), { connections: CONNECTIONS, pipelining: 1 });
    const app = apps[0];
    const half = async (total: number): Promise<void> => {
      let next = 0;
      const failures: string[] = [];
      await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
        while (next < total) {
          next += 1;
          const answer = await send(url(caller.outbound, '/'), { headers: { host: 'hello' }, dispatcher: client });
          if (answer.status !== 200) failures.push(`${answer.status} ${answer.body.slice(0, 200)}`);
        }
      }));
      assert.deepEqual(failures.slice(0, 3), [], 'every request answered 200');
    };
    const warm = await send(url(caller.outbound, '/'), { headers: { host: 'hello' } });
    assert.equal(warm.status, 200);
    const baseline = { handles: handles(), app: await appConnections(app) };
    const snapshot = async (): Promise<Record<string, number>> => ({
      app: await appConnections(app),
      inbound: peer.status().listeners['inbound']?.connections ?? -1,
      outbound: caller.status().listeners['outbound']?.connections ?? -1,
      handles: handles(),
    });
    try {
      for (const round of [1, 2]) {
        await half(5_000);
        const figures = await snapshot();
        // A leak would show thousands here; a pool holds at most one socket per connection in use.
        assert.ok((figures['app']) <= CONNECTIONS, `round ${round}: the inbound pool to the app holds at most ${CONNECTIONS} sockets (${JSON.stringify(figures)})`);
        assert.ok((figures['inbound']) >= 1 && (figures['inbound']) <= CONNECTIONS, `round ${round}: the outbound pool to the peer holds at most ${CONNECTIONS} sockets (${JSON.stringify(figures)})`);
        // The client's 50, and the warm-up request's own keep-alive connection.
        assert.ok((figures['outbound']) >= 1 && (figures['outbound']) <= CONNECTIONS + 1, `round ${round}: the client's connections are counted (${JSON.stringify(figures)})`);
        // Per connection in use, this process holds up to 6 sockets (client, outbound accept, outbound pool,
        // inbound accept, app pool, app server), 2 of them under TLS: a leak of 10,000 requests would show far more.
        assert.ok((figures['handles']) <= baseline.handles + 8 * CONNECTIONS, `round ${round}: handles bounded by the sockets in use (${JSON.stringify(figures)}, ${baseline.handles} at first)`);
      }
    } finally {
      await client.close();
    }
    // Once idle, keep-alive timeouts close the pools' sockets: back to where it started.
    await waitFor(`handles back to ${baseline.handles} and the app's connections to ${baseline.app}`, async () => {
      const now = await snapshot();
      return (now['handles']) <= baseline.handles + 2 && (now['app']) <= baseline.app && now['outbound'] === 0 ? now : undefined;
    }, { timeoutMs: 20_000, everyMs: 200 });
    const answer = await send(url(caller.outbound, '/'), { headers: { host: 'hello' } });
    assert.equal(answer.status, 200);
  });
});
