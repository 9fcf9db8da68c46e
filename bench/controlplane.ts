/**
 * The control plane at scale (issue 13): registrations/s (single and bulk), heartbeats/s
 * (single and bulk), RSS / peak RSS, and p99 of a small request (GET /v1/services/small) while
 * the whole registry is listed page by page. Sizes from BENCH_CP_SIZES (default 10000,50000),
 * each on a fresh embedded control plane. (The expiry-storm figures come from
 * test/control-plane/scale.test.ts.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { adminHeaders, percentile, startControlPlane, throughput } from './lib.js';

const SIZES = (process.env['BENCH_CP_SIZES'] ?? '10000,50000').split(',').map(Number);
const BULK = 1_000;

function memory(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(/\d+/.exec(status.split('\n').find((l) => l.startsWith(name)) ?? '0')?.[0] ?? 0);
  return { rssMb: Math.round(kb('VmRSS:') / 1024), peakMb: Math.round(kb('VmHWM:') / 1024) };
}

const body = (i: number): Record<string, unknown> => ({ address: '10.0.0.1', port: 1_000 + (i % 60_000), ttl: '60s', metadata: { version: 'v1', zone: i % 2 === 0 ? 'a' : 'b' } });
const serviceOf = (i: number): string => `svc-${i % 100}`;
const idOf = (i: number): string => `i-${i}`;

async function json(pool: Pool, method: 'GET' | 'PUT', path: string, headers: Record<string, string>, payload?: unknown): Promise<unknown> {
  const res = await pool.request({ method, path, headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, ...(payload === undefined ? {} : { body: JSON.stringify(payload) }) });
  const text = await res.body.text();
  if (res.statusCode >= 400) throw new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

async function one(size: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-cp-'));
  const cp = await startControlPlane(dir);
  const headers = adminHeaders(cp.url);
  const pool = new Pool(cp.url, { connections: 64 });
  const probePool = new Pool(cp.url, { connections: 1 });
  try {
    const singles = Math.min(size, 5_000);
    const single = await throughput(singles, 64, (i) => json(pool, 'PUT', `/v1/services/${serviceOf(i)}/instances/${idOf(i)}`, headers, body(i)).then(() => undefined));
    const batches: number[] = [];
    for (let start = singles; start < size; start += BULK) batches.push(start);
    const bulkStarted = performance.now();
    await Promise.all([0, 1, 2, 3].map(async () => {
      for (let start = batches.shift(); start !== undefined; start = batches.shift()) {
        const byService = new Map<string, Array<Record<string, unknown>>>();
        for (let i = start; i < Math.min(size, start + BULK); i += 1) {
          const list = byService.get(serviceOf(i)) ?? [];
          list.push({ id: idOf(i), ...body(i) });
          byService.set(serviceOf(i), list);
        }
        for (const [service, instances] of byService) await json(pool, 'PUT', `/v1/services/${service}/instances`, headers, { instances });
      }
    }));
    const bulk = (size - singles) / ((performance.now() - bulkStarted) / 1_000);
    const heartbeats = await throughput(Math.min(size, 20_000), 64, (i) => json(pool, 'PUT', `/v1/services/${serviceOf(i)}/instances/${idOf(i)}/heartbeat`, headers).then(() => undefined));
    await json(pool, 'PUT', '/v1/services/small/instances/s-1', headers, body(1));
    const afterLoad = memory(cp.child.pid ?? 0);
    // A small request, over and over, while the whole registry is listed page by page.
    let listing = true;
    const latencies: number[] = [];
    const probing = (async () => {
      while (listing) {
        const started = performance.now();
        await json(probePool, 'GET', '/v1/services/small', headers);
        latencies.push(performance.now() - started);
      }
    })();
    const listStarted = performance.now();
    let cursor: string | null = null;
    let listed = 0;
    do {
      const page = await json(pool, 'GET', `/v1/instances?limit=500${cursor === null ? '' : `&cursor=${cursor}`}`, headers) as { instances: unknown[]; cursor: string | null };
      listed += page.instances.length;
      cursor = page.cursor;
    } while (cursor !== null);
    const listMs = performance.now() - listStarted;
    listing = false;
    await probing;
    const mem = memory(cp.child.pid ?? 0);
    latencies.sort((a, b) => a - b);
    process.stdout.write(`${String(size).padStart(7)} instances: registrations ${Math.round(single)}/s single, ${Math.round(bulk)}/s bulk; `
      + `heartbeats ${Math.round(heartbeats)}/s; RSS ${afterLoad.rssMb} MB after loading, ${mem.rssMb} MB after a full list (peak ${mem.peakMb} MB); `
      + `full paged list of ${listed} in ${Math.round(listMs)} ms, small request meanwhile p99 ${percentile(latencies, 0.99).toFixed(1)} ms (n=${latencies.length})\n`);
  } finally {
    await pool.close();
    await probePool.close();
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function controlPlaneBench(): Promise<void> {
  for (const size of SIZES) await one(size);
}

if (import.meta.url === `file://${process.argv[1]}`) await controlPlaneBench();
