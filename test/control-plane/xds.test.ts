/**
 * The xDS server (src/control-plane/xds/) with real proxyless gRPC clients: `trellis server
 * --xds`, a bootstrap written by `trellis xds bootstrap`, two @grpc/grpc-js-xds client processes
 * calling xds:///my-service, three gRPC server processes registered in Trellis. Calls spread
 * over the three; a drain (weight 0) and an undrain apply within 1 s; after a kill -9 only calls
 * in flight on the dead instance may fail, then none; ring-hash from the service defaults keeps
 * a key on one instance. And the protocol's edges with a raw ADS
 * client: no token, a bad token, a NACK (logged with its reason, never answered by a resend),
 * garbage, and the per-token stream limit.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { adsService, TYPE_URLS } from '../../src/control-plane/xds/protos.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse } from '../../src/control-plane/xds/delta-stream.js';
import type { DiscoveryRequest, DiscoveryResponse } from '../../src/control-plane/xds/stream.js';
import { adminApi, killAll, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminToken, mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { calls, describeCalls, killXdsProcs, spawnFixture, type Proc } from '../helpers/xds.js';

const SERVICE = 'my-service';
const PER_TOKEN = 6;

type AdsCall = grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;

/** A raw ADS stream (grpc-js on the server's own service definition). */
function adsStream(address: string, metadata = new grpc.Metadata()): { call: AdsCall; responses: DiscoveryResponse[]; status: Promise<grpc.StatusObject>; close(): void } {
  const Client = grpc.makeGenericClientConstructor(adsService(), 'AggregatedDiscoveryService');
  const client = new Client(address, grpc.credentials.createInsecure());
  const method = adsService()['StreamAggregatedResources'];
  const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, metadata) as AdsCall;
  const responses: DiscoveryResponse[] = [];
  call.on('data', (r: DiscoveryResponse) => responses.push(r));
  const status = new Promise<grpc.StatusObject>((resolve) => {
    call.on('status', resolve);
    call.on('error', () => undefined);
  });
  return { call, responses, status, close: () => { call.cancel(); client.close(); } };
}

function nodeWith(token: string | undefined): NonNullable<DiscoveryRequest['node']> {
  return { id: 'raw-test-client', ...(token === undefined ? {} : { metadata: { fields: { TRELLIS_TOKEN: { stringValue: token } } } }) };
}

describe('xDS server for proxyless gRPC clients', () => {
  const data = tempDir('xds');
  let server: ServerProcess;
  let xdsAddress: string;
  let bootstrapFile: string;
  const backends = new Map<string, { proc: Proc; port: number }>();
  let clients: Proc[] = [];

  before(async () => {
    server = await startServer(join(data.path, 'cp'), ['--xds', '127.0.0.1:0', '--xds-max-streams-per-token', String(PER_TOKEN), '--log-level', 'info']);
    xdsAddress = await waitFor('the xds address in the ready line', () => /"xds":"([^"]+)"/.exec(server.output())?.[1]);
    const admin = adminToken(server.url)!;
    await Promise.all(['grpc-1', 'grpc-2', 'grpc-3'].map(async (id) => {
      const proc = spawnFixture('xds-backend.js', { CP: server.url, TOKEN: admin, SERVICE, ID: id });
      const ready = await waitFor(`${id} ready`, () => proc.lines.find((l) => l.includes('"ready"')), { timeoutMs: 15_000 });
      backends.set(id, { proc, port: (JSON.parse(ready) as { port: number }).port });
    }));
    bootstrapFile = join(data.path, 'bootstrap.json');
    const token = await mintToken(server.url, 'caller');
    const written = await runCli(['xds', 'bootstrap', '--service', 'caller', '--control-plane', server.url, '--out', bootstrapFile], { TRELLIS_TOKEN: token });
    assert.equal(written.code, 0, written.stderr);
    clients = [1, 2].map(() => spawnFixture('xds-client.js', { GRPC_XDS_BOOTSTRAP: bootstrapFile, TARGET: SERVICE }));
  });

  after(async () => {
    killXdsProcs();
    killAll();
    await server?.kill();
    data.remove();
  });

  it('writes a bootstrap with the xDS server, the node and its token, readable by its owner only', () => {
    const bootstrap = JSON.parse(readFileSync(bootstrapFile, 'utf8')) as { xds_servers: Array<{ server_uri: string }>; node: { cluster: string; metadata: Record<string, string> } };
    assert.equal(bootstrap.xds_servers[0]?.server_uri, xdsAddress);
    assert.equal(bootstrap.node.cluster, 'caller');
    assert.match(bootstrap.node.metadata['TRELLIS_TOKEN'] ?? '', /^trellis-join\./);
    assert.equal(statSync(bootstrapFile).mode & 0o777, 0o600);
  });

  it('spreads calls of real grpc-js-xds clients over the 3 instances', async () => {
    const start = Date.now();
    await waitFor('every client reaching all 3 instances', () => clients.every((c) => new Set(calls(c, start).map((x) => x.id)).size >= 3 && calls(c, start).length >= 60), { timeoutMs: 20_000 });
    for (const [index, client] of clients.entries()) {
      const list = calls(client, start).slice(-60);
      for (const id of backends.keys()) {
        const share = list.filter((c) => c.id === id).length / list.length;
        assert.ok(share >= 0.2, `client ${index}: ${id} got ${Math.round(share * 100)}% of 60 calls (round robin gives a third): ${describeCalls(list)}`);
      }
      assert.equal(list.filter((c) => c.code !== 0).length, 0, `client ${index} had failures: ${describeCalls(list)}`);
    }
  });

  it('applies a drain (weight 0) and an undrain within 1 s', async () => {
    const { port } = backends.get('grpc-3')!;
    const body = { address: '127.0.0.1', port, ttl: '2s', metadata: { protocol: 'grpc' } };
    const drained = await adminApi(`${server.url}/v1/services/${SERVICE}/instances/grpc-3`, 'PUT', { ...body, weight: 0 });
    assert.equal(drained.status, 200, JSON.stringify(drained.json));
    const drainedAt = Date.now();
    await waitFor('1.2 s of calls after the drain', () => clients.every((c) => calls(c, drainedAt + 1_200).length >= 10), { timeoutMs: 15_000 });
    for (const client of clients) {
      const late = calls(client, drainedAt + 1_000);
      assert.equal(late.filter((c) => c.id === 'grpc-3').length, 0, `grpc-3 still got calls more than 1 s after its drain: ${describeCalls(late)}`);
      assert.equal(calls(client, drainedAt).filter((c) => c.code !== 0).length, 0, `a drain failed calls: ${describeCalls(calls(client, drainedAt))}`);
    }
    const undrained = await adminApi(`${server.url}/v1/services/${SERVICE}/instances/grpc-3`, 'PUT', { ...body, weight: 1 });
    assert.equal(undrained.status, 200);
    const undrainedAt = Date.now();
    const back = await waitFor('grpc-3 answering again', () => {
      const firsts = clients.map((c) => calls(c, undrainedAt).find((x) => x.id === 'grpc-3'));
      return firsts.every((f) => f !== undefined) ? firsts : undefined;
    }, { timeoutMs: 10_000 });
    for (const first of back) assert.ok(first.at - undrainedAt < 1_000, `grpc-3 got its first call ${first.at - undrainedAt} ms after the undrain (limit 1 s)`);
  });

  it('after a kill -9 of one instance only calls in flight on it fail, then none', async (t) => {
    const victim = backends.get('grpc-1')!;
    const killedAt = Date.now();
    victim.proc.child.kill('SIGKILL');
    // Past the instance's 2 s TTL: the registry marks it critical and EDS drops it too.
    await waitFor('3.5 s of calls after the kill', () => clients.every((c) => calls(c, killedAt + 3_500).length >= 5), { timeoutMs: 20_000 });
    for (const [index, client] of clients.entries()) {
      const afterKill = calls(client, killedAt);
      const failed = afterKill.filter((c) => c.code !== 0);
      // One call at a time per client: at most the one in flight, and one picked before the client saw the connection drop.
      t.diagnostic(`client ${index}: ${afterKill.length} calls after the kill, ${failed.length} failed`);
      assert.ok(failed.length <= 2, `client ${index}: ${failed.length} calls failed after the kill: ${describeCalls(afterKill)}`);
      const settled = calls(client, killedAt + 500);
      assert.equal(settled.filter((c) => c.code !== 0).length, 0, `client ${index}: calls failed more than 500 ms after the kill: ${describeCalls(settled)}`);
      assert.ok(settled.length >= 20, `client ${index} made only ${settled.length} calls after the kill`);
      assert.equal(settled.filter((c) => c.id === 'grpc-1').length, 0);
    }
  });

  it('ring-hash from the service defaults (RING_HASH, a header hash policy): each hash key sticks to one instance', async () => {
    const put = await adminApi(`${server.url}/v1/service-defaults/${SERVICE}`, 'PUT', { loadBalancer: 'ring-hash', hashHeader: 'x-user' });
    assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.json));
    const keyed = ['alice', 'bob', 'carol', 'dave'].map((key) => spawnFixture('xds-client.js', { GRPC_XDS_BOOTSTRAP: bootstrapFile, TARGET: SERVICE, HASH_KEY: key }));
    const start = Date.now();
    await waitFor('40 calls per keyed client', () => keyed.every((c) => calls(c, start).length >= 40), { timeoutMs: 45_000 });
    for (const c of keyed) {
      const list = calls(c, start).filter((x) => x.code === 0);
      const ids = new Set(list.map((x) => x.id));
      assert.equal(ids.size, 1, `one key reached several instances: ${describeCalls(list)}`);
    }
    for (const c of keyed) c.child.kill('SIGKILL');
    await adminApi(`${server.url}/v1/service-defaults/${SERVICE}`, 'DELETE');
  });

  it('refuses a stream without a token, or with a bad one, with a coded UNAUTHENTICATED', async () => {
    const none = adsStream(xdsAddress);
    none.call.write({ node: nodeWith(undefined), type_url: TYPE_URLS.listener, resource_names: [SERVICE] });
    const refused = await none.status;
    assert.equal(refused.code, grpc.status.UNAUTHENTICATED);
    assert.match(refused.details, /TRELLIS_ERR_TOKEN_MISSING/);
    assert.match(refused.details, /TRELLIS_TOKEN/);
    none.close();
    const bad = adsStream(xdsAddress);
    bad.call.write({ node: nodeWith('trellis-join.nope'), type_url: TYPE_URLS.listener, resource_names: [SERVICE] });
    const badStatus = await bad.status;
    assert.equal(badStatus.code, grpc.status.UNAUTHENTICATED);
    assert.match(badStatus.details, /TRELLIS_ERR_TOKEN_INVALID/);
    bad.close();
  });

  it('logs a NACK with the client\'s reason and does not resend the refused version; ignores unknown types', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${adminToken(server.url)!}`);
    const ads = adsStream(xdsAddress, metadata);
    ads.call.write({ node: nodeWith(undefined), type_url: 'type.googleapis.com/no.such.Type', resource_names: ['x'] });
    ads.call.write({ node: nodeWith(undefined), type_url: TYPE_URLS.endpoint, resource_names: [SERVICE] });
    const first = await waitFor('the first EDS answer', () => ads.responses[0]);
    assert.equal(first.type_url, TYPE_URLS.endpoint);
    assert.equal(first.resources.length, 1);
    ads.call.write({ type_url: TYPE_URLS.endpoint, resource_names: [SERVICE], response_nonce: first.nonce, version_info: '', error_detail: { code: 3, message: 'the test client refuses this on purpose' } });
    await waitFor('the NACK in the log', () => /NACK[^\n]*the test client refuses this on purpose|the test client refuses this on purpose[^\n]*NACK/.test(server.output()));
    assert.equal(ads.responses.length, 1, 'the refused version was sent again');
    // A change is a new version: the NACKing client gets it like every other.
    const { port } = backends.get('grpc-2')!;
    await adminApi(`${server.url}/v1/services/${SERVICE}/instances/grpc-2`, 'PUT', { address: '127.0.0.1', port, ttl: '2s', weight: 2, metadata: { protocol: 'grpc' } });
    const second = await waitFor('the next version', () => ads.responses[1]);
    assert.notEqual(second.version_info, first.version_info);
    ads.close();
  });

  it('serves incremental (delta) xDS: what changed only, removals by name', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${adminToken(server.url)!}`);
    const Client = grpc.makeGenericClientConstructor(adsService(), 'AggregatedDiscoveryService');
    const client = new Client(xdsAddress, grpc.credentials.createInsecure());
    const method = adsService()['DeltaAggregatedResources'];
    const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, metadata) as grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
    const responses: DeltaDiscoveryResponse[] = [];
    call.on('data', (r: DeltaDiscoveryResponse) => {
      responses.push(r);
      call.write({ type_url: r.type_url, response_nonce: r.nonce });
    });
    call.on('error', () => undefined);
    call.write({ node: nodeWith(undefined), type_url: TYPE_URLS.endpoint, resource_names_subscribe: [SERVICE, 'not-registered'] });
    const first = await waitFor('the first delta answer', () => responses[0]);
    assert.deepEqual(first.resources.map((r) => r.name), [SERVICE]);
    const { port } = backends.get('grpc-2')!;
    await adminApi(`${server.url}/v1/services/${SERVICE}/instances/grpc-2`, 'PUT', { address: '127.0.0.1', port, ttl: '2s', weight: 3, metadata: { protocol: 'grpc' } });
    const second = await waitFor('the change', () => responses[1]);
    assert.deepEqual(second.resources.map((r) => r.name), [SERVICE]);
    assert.notEqual(second.resources[0]?.version, first.resources[0]?.version);
    // A registered service that goes away is named in removed_resources.
    await adminApi(`${server.url}/v1/services/gone/instances/g`, 'PUT', { address: '127.0.0.1', port: 9 });
    call.write({ type_url: TYPE_URLS.endpoint, resource_names_subscribe: ['gone'] });
    await waitFor('gone sent', () => responses.some((r) => (r.resources ?? []).some((x) => x.name === 'gone')));
    await adminApi(`${server.url}/v1/services/gone/instances/g`, 'DELETE');
    await waitFor('gone removed', () => responses.some((r) => (r.removed_resources ?? []).includes('gone')));
    call.cancel();
    client.close();
  });

  it('caps the streams one token may hold, and a request naming too many resources', async () => {
    const made = await adminApi<{ token: string }>(`${server.url}/v1/tokens`, 'POST', { readOnly: true, ttl: '10m' });
    const token = made.json.token;
    const streams = Array.from({ length: PER_TOKEN + 1 }, () => adsStream(xdsAddress));
    for (const s of streams) s.call.write({ node: nodeWith(token), type_url: TYPE_URLS.cluster, resource_names: [SERVICE] });
    const over = await Promise.race(streams.map((s) => s.status));
    assert.equal(over.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(over.details, /TRELLIS_ERR_XDS_TOO_MANY_STREAMS/);
    await waitFor('the others answered', () => streams.filter((s) => s.responses.length > 0).length === PER_TOKEN);
    for (const s of streams) s.close();
    const huge = adsStream(xdsAddress);
    huge.call.write({ node: nodeWith(token), type_url: TYPE_URLS.endpoint, resource_names: Array.from({ length: 10_001 }, (_, i) => `s${i}`) });
    const status = await huge.status;
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
    assert.match(status.details, /TRELLIS_ERR_XDS_BAD_REQUEST/);
    huge.close();
  });
});
