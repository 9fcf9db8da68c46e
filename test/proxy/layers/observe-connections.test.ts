/**
 * The connection stack's observation layer in isolation: a relayed connection (a real socket
 * pair on port 0) is announced when it opens and recorded once when it closes, with its
 * bytes; one that could not be relayed is recorded at once with its verdict; a WebSocket
 * stack records tunnels only. The access-log line of a record.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ErrorCodes } from '../../../src/errors.js';
import { connectionLine } from '../../../src/proxy/layers/connection-sinks.js';
import { createConnectionObserveLayer, type ConnectionRecord, type ConnectionSink, type OpenConnection } from '../../../src/proxy/layers/observe-connections.js';
import type { Outcome } from '../../../src/proxy/types.js';
import { waitFor } from '../../helpers/wait.js';
import { endpoint, failure, request, response } from './fixtures.js';

function noSinkError(err: unknown): void {
  assert.fail(`a sink threw: ${String(err)}`);
}

function sinkOf(opened: OpenConnection[], closed: ConnectionRecord[]): ConnectionSink {
  return { opened: (c) => opened.push(c), closed: (r) => closed.push(r) };
}

describe('connection observation', () => {
  let server: Server;
  let port = 0;
  const accepted: Socket[] = [];

  before(async () => {
    server = createServer((socket) => {
      accepted.push(socket);
      socket.on('data', (chunk: Buffer) => socket.write(Buffer.concat([chunk, chunk])));
      socket.on('end', () => socket.end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  after(() => {
    for (const socket of accepted) socket.destroy();
    server.close();
  });

  const connected = (): Promise<Socket> => new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });

  it('announces a relayed connection, then records it once when it closes, with its bytes', async () => {
    const opened: OpenConnection[] = [];
    const closed: ConnectionRecord[] = [];
    const upstream = await connected();
    const outcome: Outcome = { ok: true, classification: 'success', response: { status: 200, headers: {}, body: upstream, endpoint: endpoint('a') } };
    const layer = createConnectionObserveLayer([sinkOf(opened, closed)], 'web', noSinkError);
    const req = request({ method: 'CONNECT' });
    req.tried.add('x');
    req.tried.add('a');
    await layer(async () => outcome)(req);
    assert.equal(opened.length, 1);
    assert.equal(closed.length, 0, 'not recorded while open');
    assert.deepEqual([opened[0]?.protocol, opened[0]?.src, opened[0]?.endpoint?.id], ['tcp', 'web', 'a']);
    const echoed = new Promise<void>((resolve) => upstream.once('data', () => resolve()));
    upstream.write('hello');
    await echoed;
    upstream.end();
    await waitFor('the close to be recorded', () => closed.length === 1);
    const record = closed[0];
    assert.ok(record !== undefined);
    assert.deepEqual([record.relayed, record.verdict.class, record.error, record.attempts, record.sentBytes, record.receivedBytes], [true, 'success', '', 2, 5, 10]);
    assert.ok(record.durationMs >= record.connectMs);
    const line = JSON.parse(connectionLine(record, 1)) as Record<string, unknown>;
    assert.deepEqual(
      [line['protocol'], line['direction'], line['service'], line['peer'], line['class'], line['blame'], line['attempts'], line['sentBytes'], line['receivedBytes'], line['endpointId'], line['upstream']],
      ['tcp', 'outbound', 'payments', 'web', 'success', 'none', 2, 5, 10, 'a', `${endpoint('a').address}:${endpoint('a').port}`],
    );
  });

  it('records a connection that could not be relayed at once, with the verdict on it', async () => {
    const opened: OpenConnection[] = [];
    const closed: ConnectionRecord[] = [];
    const layer = createConnectionObserveLayer([sinkOf(opened, closed)], 'web', noSinkError);
    await layer(async () => failure(ErrorCodes.UPSTREAM_CONNECT, endpoint('b'), false))(request({ method: 'CONNECT' }));
    await layer(async () => failure(ErrorCodes.CIRCUIT_OPEN, undefined, false))(request({ method: 'CONNECT' }));
    assert.equal(opened.length, 0);
    assert.deepEqual(closed.map((r) => [r.relayed, r.verdict.class, r.verdict.blame, r.error, r.endpoint?.id]), [
      [false, 'connect-failure', 'endpoint', ErrorCodes.UPSTREAM_CONNECT, 'b'],
      [false, 'denied', 'proxy', ErrorCodes.CIRCUIT_OPEN, undefined],
    ]);
  });

  it('on a WebSocket stack records tunnels only: refused upgrades are requests, observed as such', async () => {
    const opened: OpenConnection[] = [];
    const closed: ConnectionRecord[] = [];
    const layer = createConnectionObserveLayer([sinkOf(opened, closed)], 'web', noSinkError, 'websocket');
    await layer(async () => response(426, endpoint('a')))(request());
    await layer(async () => failure(ErrorCodes.NO_HEALTHY_ENDPOINT, undefined, false))(request());
    assert.equal(opened.length + closed.length, 0);
    const upstream = await connected();
    await layer(async () => ({ ok: true, classification: 'success', response: { status: 101, headers: {}, body: upstream, endpoint: endpoint('a') } }))(request());
    assert.equal(opened[0]?.protocol, 'websocket');
    upstream.destroy();
    await waitFor('the tunnel to be recorded', () => closed.length === 1);
  });

  it('keeps relaying when a sink throws', async () => {
    const errors: unknown[] = [];
    const layer = createConnectionObserveLayer([{ closed: () => { throw new Error('log closed'); } }], 'web', (err) => errors.push(err));
    const outcome = failure(ErrorCodes.UPSTREAM_CONNECT, endpoint('a'), false);
    assert.equal(await layer(async () => outcome)(request()), outcome);
    assert.equal(errors.length, 1);
  });
});
