/**
 * Trace propagation across two hops (caller's sidecar outbound → callee's sidecar inbound →
 * app): the app gets the client's trace id with a span id that is new at each hop, each hop
 * writes one access-log line with the same trace and request ids, and b3 headers are carried
 * the same way. A request without a traceparent starts a trace.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, send, sidecar, startApp, tearDown, url, type App } from '../proxy/helpers.js';

const dir = tempDir('trace');
const sidecars: Sidecar[] = [];
const apps: App[] = [];
const callerLog = join(dir.path, 'caller-access.log');
const calleeLog = join(dir.path, 'callee-access.log');
let server: ServerProcess;
let caller: Sidecar;

interface AccessLine { requestId: string; bytes: number | null; traceId: string; spanId: string; direction: string; peer: string; service: string; status: number; path: string; upstream: string | null }

function lines(file: string): AccessLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AccessLine);
}

function logLine(file: string, requestId: string): Promise<AccessLine> {
  return waitFor(`an access-log line for ${requestId} in ${file}`, () => lines(file).find((l) => l.requestId === requestId));
}

before(async () => {
  server = await startServer(dir.path);
  const app = await startApp('echo', (req, res) => {
    req.resume();
    res.setHeader('content-type', 'application/json');
    // /chunked: no content-length (head, one chunk and the end in one write), as many frameworks answer.
    if (req.url === '/chunked') res.setHeader('transfer-encoding', 'chunked');
    res.end(JSON.stringify(req.headers));
  });
  apps.push(app);
  sidecars.push(await replica(server.url, 'orders', app, { telemetry: { accessLog: calleeLog } }));
  caller = await sidecar({ service: 'web', controlPlane: server.url, upstreams: ['orders'], telemetry: { accessLog: callerLog } });
  sidecars.push(caller);
  await endpointsReached(caller, 'orders', 1);
});
after(() => tearDown(dir, sidecars, apps));

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

it('keeps the trace id and makes a new span id at each of the two hops', async () => {
  const answer = await send(url(caller.outbound, '/orders/7'), {
    headers: { host: 'orders', traceparent: `00-${TRACE_ID}-${CLIENT_SPAN}-01`, tracestate: 'vendor=opaque', 'x-request-id': 'trace-test-1' },
  });
  assert.equal(answer.status, 200);
  const seen = JSON.parse(answer.body) as Record<string, string>;
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(seen['traceparent'] ?? '');
  assert.ok(match !== null, `the app got traceparent ${seen['traceparent']}`);
  assert.equal(match[1], TRACE_ID);
  const appParent = match[2];
  assert.equal(seen['tracestate'], 'vendor=opaque');
  assert.equal(seen['x-request-id'], 'trace-test-1');
  assert.equal(seen['trellis-caller'], 'web');

  const outboundHop = await logLine(callerLog, 'trace-test-1');
  const inboundHop = await logLine(calleeLog, 'trace-test-1');
  assert.equal(outboundHop.traceId, TRACE_ID);
  assert.equal(inboundHop.traceId, TRACE_ID);
  assert.equal(outboundHop.direction, 'outbound');
  assert.equal(inboundHop.direction, 'inbound');
  // The inbound hop's span is the parent the app sees; every span id differs.
  assert.equal(inboundHop.spanId, appParent);
  assert.equal(new Set([CLIENT_SPAN, outboundHop.spanId, inboundHop.spanId]).size, 3);
  assert.equal(inboundHop.peer, 'web');
  assert.equal(inboundHop.status, 200);
  assert.equal(outboundHop.path, '/orders/7');
  assert.match(outboundHop.upstream ?? '', /^127\.0\.0\.1:\d+$/);
});

it('starts a trace when the client sent none (or an invalid one)', async () => {
  for (const [i, traceparent] of [undefined, '00-not-a-trace-01', `00-${'0'.repeat(32)}-${CLIENT_SPAN}-01`].entries()) {
    const headers: Record<string, string> = { host: 'orders', 'x-request-id': `trace-start-${i}` };
    if (traceparent !== undefined) headers['traceparent'] = traceparent;
    const seen = JSON.parse((await send(url(caller.outbound, '/'), { headers })).body) as Record<string, string>;
    const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(seen['traceparent'] ?? '');
    assert.ok(match !== null, `the app got traceparent ${seen['traceparent']}`);
    assert.notEqual(match[1], '0'.repeat(32));
    const outboundHop = await logLine(callerLog, `trace-start-${i}`);
    assert.equal(outboundHop.traceId, match[1], 'one trace across both hops');
  }
});

it('carries b3 headers with the same trace id and a new span per hop', async () => {
  const seen = JSON.parse((await send(url(caller.outbound, '/'), {
    headers: { host: 'orders', 'x-b3-traceid': TRACE_ID, 'x-b3-spanid': CLIENT_SPAN, 'x-b3-sampled': '1', b3: `${TRACE_ID}-${CLIENT_SPAN}-1` },
  })).body) as Record<string, string>;
  assert.equal(seen['x-b3-traceid'], TRACE_ID);
  assert.match(seen['x-b3-spanid'] ?? '', /^[0-9a-f]{16}$/);
  assert.notEqual(seen['x-b3-spanid'], CLIENT_SPAN);
  assert.match(seen['x-b3-parentspanid'] ?? '', /^[0-9a-f]{16}$/);
  assert.notEqual(seen['x-b3-parentspanid'], CLIENT_SPAN, 'the parent is the outbound hop, not the client');
  assert.equal(seen['x-b3-sampled'], '1');
  const b3 = /^([0-9a-f]{32})-([0-9a-f]{16})-1-([0-9a-f]{16})$/.exec(seen['b3'] ?? '');
  assert.ok(b3 !== null, `b3 ${seen['b3']}`);
  assert.equal(b3[1], TRACE_ID);
  assert.equal(b3[2], seen['x-b3-spanid']);
});

it('logs the bytes of a response body: its content-length, or what arrived of a chunked one', async () => {
  for (const path of ['/sized', '/chunked']) {
    const requestId = `bytes${path.replace('/', '-')}`;
    const answer = await send(url(caller.outbound, path), { headers: { host: 'orders', 'x-request-id': requestId } });
    assert.equal(answer.status, 200);
    const bodyBytes = Buffer.byteLength(answer.body);
    assert.equal((await logLine(calleeLog, requestId)).bytes, bodyBytes, `inbound ${path}`);
    assert.equal((await logLine(callerLog, requestId)).bytes, bodyBytes, `outbound ${path}`);
  }
});
