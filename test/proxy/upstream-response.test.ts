/**
 * The HTTP/1 upstream's responses (src/proxy/upstream/response.ts), against a real server on
 * port 0: a small answer that arrives with its head is handed over whole (no stream made);
 * a large one is streamed, never held whole; a body that breaks off before anyone read it
 * still fails its reader.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Endpoint } from '../../src/balancer/types.js';
import { ErrorCodes } from '../../src/errors.js';
import { NO_BODY } from '../../src/proxy/body.js';
import { Cancellation } from '../../src/proxy/cancel.js';
import { DEFAULT_UPSTREAM_POLICY } from '../../src/proxy/policy.js';
import type { Outcome, ProxyRequest, ProxyResponse } from '../../src/proxy/types.js';
import { createHttpUpstream } from '../../src/proxy/upstream/http.js';
import { BODY_HIGH_WATER_MARK } from '../../src/proxy/upstream/response.js';

const LARGE = 4 * 1024 * 1024;

function proxyRequest(path: string): ProxyRequest {
  return {
    id: 'test', method: 'GET', path, headers: { host: 'app' }, body: NO_BODY,
    target: { direction: 'outbound', service: 'app', policy: DEFAULT_UPSTREAM_POLICY },
    signal: new Cancellation(), startedAt: performance.now(), tried: new Set(),
  };
}

function responseOf(outcome: Outcome): ProxyResponse {
  assert.ok(outcome.ok, 'the attempt answered');
  return outcome.response;
}

describe('HTTP/1 upstream responses', () => {
  let server: Server;
  let endpoint: Endpoint;
  const upstream = createHttpUpstream({ unreachable: ErrorCodes.UPSTREAM_CONNECT });

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/large') {
        res.writeHead(200, { 'content-length': String(LARGE) });
        res.end(Buffer.alloc(LARGE, 'x'));
      } else if (req.url === '/cut') {
        res.writeHead(200, { 'content-length': String(LARGE) });
        res.write(Buffer.alloc(1024, 'x'), () => req.socket.destroy());
      } else {
        res.end('hello');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    endpoint = { id: 'app-1', address: '127.0.0.1', port, weight: 1, metadata: {} };
  });

  after(async () => {
    await upstream.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('hands a small answer over whole, without a stream', async () => {
    for (let i = 0; i < 3; i++) {
      const response = responseOf(await upstream.send(proxyRequest('/small'), endpoint));
      const whole = response.wholeBody?.();
      assert.ok(whole !== undefined, 'the whole body arrived with the head');
      assert.equal(Buffer.concat(whole).toString(), 'hello');
    }
  });

  it('streams a large answer: never held whole, read in full from `body`', async () => {
    const response = responseOf(await upstream.send(proxyRequest('/large'), endpoint));
    assert.equal(response.wholeBody?.(), undefined, 'a 4 MiB body is not held whole');
    const body = response.body;
    assert.ok(body !== null);
    assert.ok(body.readableLength <= 2 * BODY_HIGH_WATER_MARK, `at most about a high-water mark buffered before reading (${body.readableLength} bytes)`);
    let total = 0;
    for await (const chunk of body) total += (chunk as Buffer).length;
    assert.equal(total, LARGE);
  });

  it('fails the reader of a body that broke off before anyone read it', async () => {
    const response = responseOf(await upstream.send(proxyRequest('/cut'), endpoint));
    assert.equal(response.wholeBody?.(), undefined);
    const body = response.body;
    assert.ok(body !== null);
    await assert.rejects(async () => {
      for await (const chunk of body) assert.ok((chunk as Buffer).length > 0);
    });
  });
});
