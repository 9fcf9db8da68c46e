/**
 * Bodies stream through a caller sidecar and a replica sidecar (both real `trellis proxy`
 * processes), never buffered whole:
 * - a 50 MB response to a client that does not read stalls the app long before it wrote
 *   the body (backpressure through both sidecars), then arrives whole once read;
 * - 200 MB down and 100 MB up pass while neither sidecar's RSS grows by more than a
 *   fraction of that (garbage collection makes RSS noisy, hence the large bodies);
 * - the first byte of a response reaches the client while the app is still writing.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { send, startApp, url, type App } from './helpers.js';
import { killProxies, startProxy, type ProxyProcess } from './proxy-process.js';

const MiB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');
/** RSS growth that proves a 100–200 MB body was not buffered (GC alone moves RSS by tens of MB). */
const MAX_GROWTH = 40 * MiB;

function bodyOf(size: number): Readable {
  let left = size;
  return new Readable({
    read() {
      left -= CHUNK.length;
      this.push(left >= 0 ? CHUNK : null);
    },
  });
}

/** Track the highest RSS of the sidecars while `work` runs; returns the growth over the RSS before. */
async function rssGrowth(proxies: ProxyProcess[], work: () => Promise<void>): Promise<number[]> {
  const before = proxies.map((p) => { p.resetPeak(); return p.memory().rss; });
  const highest = [...before];
  const sampler = setInterval(() => proxies.forEach((p, i) => { highest[i] = Math.max(highest[i] ?? 0, p.memory().rss); }), 10);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return proxies.map((p, i) => Math.max(highest[i] ?? 0, p.memory().peak) - (before[i] ?? 0));
}

describe('streaming bodies through two sidecar processes', () => {
  const dir = tempDir('proxy-streaming');
  let server: ServerProcess;
  let app: App;
  let replica: ProxyProcess;
  let caller: ProxyProcess;
  let release: () => void = () => undefined;
  /** Bytes the app has written of /big responses, and whether it waits for 'drain'. */
  let written = 0;
  let blocked = false;

  before(async () => {
    server = await startServer(dir.path);
    app = await startApp('stream', (req, res) => {
      const size = /^\/big\/(\d+)$/.exec(req.url ?? '')?.[1];
      if (size !== undefined) {
        let left = Number(size) * MiB;
        const write = (): void => {
          blocked = false;
          while (left > 0) {
            left -= CHUNK.length;
            written += CHUNK.length;
            if (!res.write(CHUNK)) {
              blocked = true;
              res.once('drain', write);
              return;
            }
          }
          res.end();
        };
        res.writeHead(200, { 'content-length': String(Number(size) * MiB) });
        write();
      } else if (req.url === '/first') {
        res.writeHead(200);
        res.write('first;');
        new Promise<void>((resolve) => { release = resolve; }).then(() => res.end('rest'), () => undefined);
      } else if (req.url === '/upload') {
        let bytes = 0;
        req.on('data', (chunk: Buffer) => { bytes += chunk.length; });
        req.on('end', () => res.end(String(bytes)));
      } else {
        res.end('ok');
      }
    });
    replica = await startProxy(['--service', 'stream', '--id', 'stream-1', '--app-port', String(app.port), '--control-plane', server.url, '--ttl', '1s', '--health-interval', '200ms']);
    caller = await startProxy(['--service', 'caller', '--control-plane', server.url, '--upstream', 'stream']);
    await waitFor('the caller to reach the replica', async () => (await send(url(caller.outbound, '/'), { headers: { host: 'stream' } })).status === 200);
  });

  after(async () => {
    killProxies();
    await app.close();
    killAll();
    dir.remove();
  });

  it('holds a 50 MB response back while the client does not read it', async () => {
    written = 0;
    const response = await request(url(caller.outbound, '/big/50'), { headers: { host: 'stream' } });
    assert.equal(response.statusCode, 200);
    // The client reads nothing: the app must end up waiting for 'drain' with the body only partly written.
    let previous = -1;
    const stalledAt = await waitFor('the app to stall on backpressure', () => {
      const stalled = blocked && written === previous ? written : undefined;
      previous = written;
      return stalled;
    }, { everyMs: 250 });
    assert.ok(stalledAt < 40 * MiB, `the app wrote ${(stalledAt / MiB).toFixed(1)} MiB of 50 before the sidecars pushed back`);
    let received = 0;
    for await (const chunk of response.body) received += (chunk as Buffer).length;
    assert.equal(received, 50 * MiB);
  });

  it('streams 200 MB down without either sidecar buffering it', async () => {
    let received = 0;
    const growth = await rssGrowth([caller, replica], async () => {
      const response = await request(url(caller.outbound, '/big/200'), { headers: { host: 'stream' } });
      assert.equal(response.statusCode, 200);
      for await (const chunk of response.body) received += (chunk as Buffer).length;
    });
    assert.equal(received, 200 * MiB);
    for (const [i, bytes] of growth.entries()) {
      assert.ok(bytes < MAX_GROWTH, `${i === 0 ? 'caller' : 'replica'} sidecar RSS grew by ${(bytes / MiB).toFixed(1)} MiB for a 200 MiB body`);
    }
  });

  it('streams 100 MB up without either sidecar buffering it', async () => {
    let answer = '';
    const growth = await rssGrowth([caller, replica], async () => {
      const response = await request(url(caller.outbound, '/upload'), { method: 'POST', headers: { host: 'stream' }, body: bodyOf(100 * MiB) });
      answer = await response.body.text();
    });
    assert.equal(answer, String(100 * MiB));
    for (const [i, bytes] of growth.entries()) {
      assert.ok(bytes < MAX_GROWTH, `${i === 0 ? 'caller' : 'replica'} sidecar RSS grew by ${(bytes / MiB).toFixed(1)} MiB for a 100 MiB upload`);
    }
  });

  it('delivers the first byte while the app is still writing', async () => {
    const response = await request(url(caller.outbound, '/first'), { headers: { host: 'stream' } });
    assert.equal(response.statusCode, 200);
    const [first] = await once(response.body, 'data') as [Buffer];
    assert.equal(first.toString(), 'first;', 'the first chunk arrived before the app finished');
    release();
    let rest = '';
    for await (const chunk of response.body) rest += (chunk as Buffer).toString();
    assert.equal(rest, 'rest');
  });
});
