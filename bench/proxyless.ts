/**
 * Proxyless (issue 16): the xDS server's push of one change to N connected ADS streams
 * (XDS_CLIENTS, default 1,000), and the mesh client library against a direct undici call to
 * the same HTTP server (sequential latency, then throughput at 16 in flight).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Pool, request } from 'undici';
import { adsService, TYPE_URLS } from '../src/control-plane/xds/protos.js';
import type { DiscoveryRequest, DiscoveryResponse } from '../src/control-plane/xds/stream.js';
import { createMeshClient } from '../src/library/index.js';
import { adminHeaders, mintToken, percentile, startControlPlane, throughput } from './lib.js';

async function startHttpServer(): Promise<{ port: number; stop(): void }> {
  const child = spawn(process.execPath, ['-e', "require('http').createServer((q,s)=>{q.resume();q.on('end',()=>s.end('ok'))}).listen(0,'127.0.0.1',function(){console.log(this.address().port)})"], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve));
  return { port: Number(line), stop: () => child.kill('SIGKILL') };
}

async function put(cp: string, id: string, port: number, weight: number): Promise<void> {
  const r = await fetch(`${cp}/v1/services/my-service/instances/${id}`, { method: 'PUT', headers: { ...adminHeaders(cp), 'content-type': 'application/json' }, body: JSON.stringify({ address: '127.0.0.1', port, weight }) });
  if (!r.ok) throw new Error(`register: ${r.status} ${await r.text()}`);
}

const ms = (n: number): string => n.toFixed(n < 10 ? 2 : 0);

async function pushBench(cp: string, xds: string, clients: number): Promise<void> {
  const token = await mintToken(cp, 'caller');
  const method = adsService()['StreamAggregatedResources'];
  const Client = grpc.makeGenericClientConstructor(adsService(), 'ADS');
  const channels = Array.from({ length: Math.ceil(clients / 500) }, () => new Client(xds, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
  const seen: Array<{ version: string; at: number }> = [];
  const calls = Array.from({ length: clients }, (_, i) => {
    const call = channels[i % channels.length].makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize) as grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
    seen.push({ version: '', at: 0 });
    call.on('data', (r: DiscoveryResponse) => {
      seen[i] = { version: r.version_info, at: performance.now() };
      call.write({ type_url: TYPE_URLS.endpoint, resource_names: ['my-service'], response_nonce: r.nonce, version_info: r.version_info });
    });
    call.on('error', () => undefined);
    call.write({ node: { id: `bench-${i}`, metadata: { fields: { TRELLIS_TOKEN: { stringValue: token } } } }, type_url: TYPE_URLS.endpoint, resource_names: ['my-service'] });
    return call;
  });
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    const deadline = Date.now() + 60_000;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  await until('every stream answered', () => seen.every((s) => s.version !== ''));
  const latencies: number[] = [];
  const fanOuts: number[] = [];
  for (let round = 0; round < 5; round += 1) {
    const before = seen.map((s) => s.version);
    const start = performance.now();
    await put(cp, 'pushed', 9001 + round, 2 + round);
    await until('every stream got the change', () => seen.every((s, i) => s.version !== before[i]));
    for (const s of seen) latencies.push(s.at - start);
    const status = await (await fetch(`${cp}/v1/status`, { headers: adminHeaders(cp) })).json() as { xds?: { lastFanOut?: { ms: number } | null } };
    fanOuts.push(status.xds?.lastFanOut?.ms ?? NaN);
  }
  latencies.sort((a, b) => a - b);
  process.stdout.write(`xDS push of one change to ${clients} ADS streams (5 changes; from the registration's PUT to each stream's response, a change after a quiet window is built at once): first ${ms(latencies[0] ?? 0)} ms, p50 ${ms(percentile(latencies, 50))} ms, p99 ${ms(percentile(latencies, 99))} ms, max ${ms(latencies[latencies.length - 1] ?? 0)} ms; the server's fan-out to all streams (encode once, queue the writes): ${fanOuts.map(ms).join(', ')} ms\n`);
  for (const c of calls) c.cancel();
  for (const ch of channels) ch.close();
}

async function libraryBench(cp: string): Promise<void> {
  const server = await startHttpServer();
  await put(cp, 'lib-1', server.port, 1);
  const direct = new Pool(`http://127.0.0.1:${server.port}`, { connections: 16 });
  const mesh = await createMeshClient({ service: 'caller', controlPlane: cp, token: await mintToken(cp, 'caller'), upstreams: ['my-service'], mtls: 'off' });
  const viaDirect = async (): Promise<void> => { await (await direct.request({ path: '/', method: 'GET' })).body.text(); };
  const viaMesh = async (): Promise<void> => { await (await request('http://my-service/', { dispatcher: mesh.dispatcher })).body.text(); };
  const sequential = async (call: () => Promise<void>, n: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i += 1) {
      const t = performance.now();
      await call();
      out.push(performance.now() - t);
    }
    return out.sort((a, b) => a - b);
  };
  for (const call of [viaDirect, viaMesh]) await sequential(call, 500); // warm up
  const d = await sequential(viaDirect, 3_000);
  const m = await sequential(viaMesh, 3_000);
  const dRate = await throughput(10_000, 16, viaDirect);
  const mRate = await throughput(10_000, 16, viaMesh);
  process.stdout.write(`library vs direct undici, one HTTP/1.1 server on loopback: sequential p50 ${ms(percentile(d, 50))} → ${ms(percentile(m, 50))} ms (added ${ms(percentile(m, 50) - percentile(d, 50))}), p99 ${ms(percentile(d, 99))} → ${ms(percentile(m, 99))} ms; 16 in flight ${Math.round(dRate)} → ${Math.round(mRate)} req/s (${(mRate / dRate).toFixed(2)}×)\n`);
  await mesh.close();
  await direct.close();
  server.stop();
}

export async function proxylessBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-xds-'));
  const cp = await startControlPlane(dir, ['--xds', '127.0.0.1:0', '--xds-max-streams-per-token', '100000']);
  try {
    const status = await (await fetch(`${cp.url}/v1/status`)).json() as { xds: { address: string } };
    await put(cp.url, 'pushed', 9000, 1);
    await pushBench(cp.url, status.xds.address, Number(process.env['XDS_CLIENTS'] ?? 1_000));
    await libraryBench(cp.url);
  } finally {
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('proxyless.js')) await proxylessBench();
