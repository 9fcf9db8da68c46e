/**
 * gRPC (h2c) through two sidecars: a @grpc/grpc-js server as the app behind its sidecar
 * (`app.protocol: grpc`), a @grpc/grpc-js client on the caller's per-upstream grpc port.
 * Unary and server-streaming calls, metadata and trailers both ways, the app's own error
 * statuses passed through, and the proxy's failures as gRPC statuses.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { formatHostPort } from '../../src/util/host-port.js';
import { adminApi as api, killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, sidecar } from './helpers.js';

interface EchoRequest { text: string }
interface CountRequest { to: number; text: string }
interface EchoReply { text: string; metadata: string }

const PROTO = fileURLToPath(new URL('../../../test/proxy/fixtures/echo.proto', import.meta.url));
const definition = loadSync(PROTO, { keepCase: true, defaults: true });
const echoService = definition['trellis.test.Echo'] as grpc.ServiceDefinition;
const say = echoService['Say'] as grpc.MethodDefinition<EchoRequest, EchoReply>;
const count = echoService['Count'] as grpc.MethodDefinition<CountRequest, EchoReply>;

/** The app: Say echoes (or fails as asked), Count streams `to` replies; both report the metadata they got. */
async function startGrpcApp(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  const seen = (metadata: grpc.Metadata): string => `caller=${String(metadata.get('x-caller')[0] ?? '-')} rid=${metadata.get('x-request-id').length === 1 ? 'set' : 'none'}`;
  const sayHandler: grpc.handleUnaryCall<EchoRequest, EchoReply> = (call, callback) => {
    if (call.request.text === 'not found') {
      callback({ code: grpc.status.NOT_FOUND, details: 'no such thing', metadata: new grpc.Metadata() });
      return;
    }
    const trailer = new grpc.Metadata();
    trailer.set('x-trailer', 'from-app');
    callback(null, { text: call.request.text, metadata: seen(call.metadata) }, trailer);
  };
  const countHandler: grpc.handleServerStreamingCall<CountRequest, EchoReply> = (call) => {
    for (let i = 1; i <= call.request.to; i += 1) call.write({ text: `${call.request.text} ${i}`, metadata: seen(call.metadata) });
    call.end();
  };
  server.addService(echoService, { Say: sayHandler, Count: countHandler });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err)));
  });
  return { server, port };
}

function unary(client: grpc.Client, request: EchoRequest, metadata = new grpc.Metadata(), deadlineMs = 5_000): Promise<{ reply: EchoReply; trailers: grpc.Metadata }> {
  return new Promise((resolve, reject) => {
    let reply: EchoReply | undefined;
    const call = client.makeUnaryRequest(`/trellis.test.Echo/Say`, say.requestSerialize, say.responseDeserialize, request, metadata,
      { deadline: Date.now() + deadlineMs }, (err, value) => {
        if (err !== null) reject(err);
        else reply = value;
      });
    call.on('status', (status: grpc.StatusObject) => {
      if (reply !== undefined) resolve({ reply, trailers: status.metadata });
    });
  });
}

function stream(client: grpc.Client, request: CountRequest): Promise<EchoReply[]> {
  return new Promise((resolve, reject) => {
    const replies: EchoReply[] = [];
    const call = client.makeServerStreamRequest(`/trellis.test.Echo/Count`, count.requestSerialize, count.responseDeserialize, request, new grpc.Metadata(), {});
    call.on('data', (reply: EchoReply) => replies.push(reply));
    call.on('error', reject);
    call.on('end', () => resolve(replies));
  });
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number';
}

describe('gRPC through two sidecars', () => {
  const dir = tempDir('proxy-grpc');
  const sidecars: Sidecar[] = [];
  const clients: grpc.Client[] = [];
  let server: ServerProcess;
  let app: { server: grpc.Server; port: number };
  let caller: Sidecar;

  const clientFor = (service: string): grpc.Client => {
    const at = caller.upstreamPorts[service];
    assert.ok(at !== undefined);
    const client = new grpc.Client(formatHostPort(at), grpc.credentials.createInsecure());
    clients.push(client);
    return client;
  };

  before(async () => {
    server = await startServer(dir.path);
    app = await startGrpcApp();
    sidecars.push(await sidecar({
      service: 'echo', id: 'echo-1', controlPlane: server.url, ttl: '1s',
      app: { port: app.port, protocol: 'grpc', health: { interval: '200ms' } },
    }));
    caller = await sidecar({
      service: 'caller', controlPlane: server.url,
      upstreams: [{ service: 'echo', port: 0, protocol: 'grpc' }, { service: 'ghost', port: 0, protocol: 'grpc' }],
    });
    sidecars.push(caller);
    await endpointsReached(caller, 'echo', 1);
  });

  after(async () => {
    for (const client of clients) client.close();
    await Promise.all(sidecars.map((s) => s.close()));
    app.server.forceShutdown();
    killAll();
    dir.remove();
  });

  it('makes a unary call, metadata in and trailers out', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('x-caller', 'test');
    const { reply, trailers } = await unary(clientFor('echo'), { text: 'hello' }, metadata);
    assert.deepEqual(reply, { text: 'hello', metadata: 'caller=test rid=set' });
    assert.deepEqual(trailers.get('x-trailer'), ['from-app']);
  });

  it('makes a server-streaming call', async () => {
    const replies = await stream(clientFor('echo'), { to: 50, text: 'n' });
    assert.equal(replies.length, 50);
    assert.equal(replies[0]?.text, 'n 1');
    assert.equal(replies[49]?.text, 'n 50');
  });

  it('runs many calls at once on one session', async () => {
    const client = clientFor('echo');
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => unary(client, { text: `call ${i}` })));
    assert.deepEqual(replies.map((r) => r.reply.text), Array.from({ length: 100 }, (_, i) => `call ${i}`));
  });

  it("passes the app's own error status through", async () => {
    await assert.rejects(unary(clientFor('echo'), { text: 'not found' }), (err: unknown) => {
      assert.ok(isServiceError(err));
      assert.equal(err.code, grpc.status.NOT_FOUND);
      assert.equal(err.details, 'no such thing');
      return true;
    });
  });

  it('fails a call to a service with no healthy instance with UNAVAILABLE naming it', async () => {
    await assert.rejects(unary(clientFor('ghost'), { text: 'anyone?' }), (err: unknown) => {
      assert.ok(isServiceError(err));
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.match(err.details, /ghost/);
      assert.deepEqual(err.metadata.get('trellis-error'), ['TRELLIS_ERR_NO_HEALTHY_ENDPOINT']);
      return true;
    });
  });

  it("fails a call the echo service's policy denies with PERMISSION_DENIED naming the policy", async () => {
    await api(`${server.url}/v1/policies/echo-closed`, 'PUT', { service: 'echo', default: 'deny' });
    const err = await waitFor('a call to be denied', async () => {
      try {
        await unary(clientFor('echo'), { text: 'let me in' });
        return undefined;
      } catch (e) {
        return isServiceError(e) && e.code === grpc.status.PERMISSION_DENIED ? e : undefined;
      }
    });
    assert.match(err.details, /denied by the default of policy echo-closed/);
    assert.deepEqual(err.metadata.get('trellis-error'), ['TRELLIS_ERR_FORBIDDEN']);
    await api(`${server.url}/v1/policies/echo-closed`, 'DELETE');
    await waitFor('calls to be allowed again', async () => (await unary(clientFor('echo'), { text: 'back' }).catch(() => undefined))?.reply.text === 'back');
  });
});
