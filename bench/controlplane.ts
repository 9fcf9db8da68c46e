/**
 * The control plane at scale (issue 13): registrations/s (single and bulk), heartbeats/s
 * (single and bulk), RSS / peak RSS, and p99 / max of a small request (GET /v1/services/small,
 * one at a time) while the whole registry is listed page by page, and while every lease expires
 * at once (all renewed by one wave of bulk heartbeats, then left to lapse: TTL BENCH_CP_TTL, default 90 s). Sizes from
 * BENCH_CP_SIZES (default 10000,50000), each on a fresh embedded control plane (rate limit off).
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

/** Long enough that registering the largest size does not outlast it (BENCH_CP_TTL, default 90s). */
const TTL = process.env['BENCH_CP_TTL'] ?? '90s';
const body = (i: number): Record<string, unknown> => ({ address: '10.0.0.1', port: 1_000 + (i % 60_000), ttl: TTL, metadata: { version: 'v1', zone: i % 2 === 0 ? 'a' : 'b' } });
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
  const cp = await startControlPlane(dir, ['--rate-limit', '0']);
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
    // One wave of bulk heartbeats renews every lease: they all lapse together TTL later.
    const waveStarted = performance.now();
    const ids = Array.from({ length: size }, (_, i) => i);
    await Promise.all([0, 1, 2, 3].map(async (w) => {
      for (let start = w * BULK; start < size; start += 4 * BULK) {
        const byService = new Map<string, string[]>();
        for (const i of ids.slice(start, start + BULK)) byService.set(serviceOf(i), [...(byService.get(serviceOf(i)) ?? []), idOf(i)]);
        for (const [service, list] of byService) await json(pool, 'PUT', `/v1/services/${service}/heartbeats`, headers, { ids: list });
      }
    }));
    const bulkHeartbeats = size / ((performance.now() - waveStarted) / 1_000);
    await json(pool, 'PUT', '/v1/services/small/instances/s-1', headers, { address: '10.0.0.1', port: 1 });
    const afterLoad = memory(cp.child.pid ?? 0);

    const probe = (until: () => Promise<boolean>) => (async () => {
      const latencies: number[] = [];
      while (!(await until())) {
        const started = performance.now();
        await json(probePool, 'GET', '/v1/services/small', headers);
        latencies.push(performance.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 2)); // pacing: a few hundred a second
      }
      return latencies.sort((a, b) => a - b);
    })();
    // A small request, over and over, while the whole registry is listed page by page.
    let listing = true;
    const duringList = probe(async () => !listing);
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
    const list = await duringList;
    const afterList = memory(cp.child.pid ?? 0);

    // The storm: every lease lapses; probe until all are critical.
    let checks = 0;
    const critical = async (): Promise<boolean> => {
      if ((checks += 1) % 20 !== 0) return false;
      const { services } = await json(probePool, 'GET', '/v1/services', headers) as { services: Array<{ name: string; critical: number }> };
      return services.filter((s) => s.name.startsWith('svc-')).reduce((n, s) => n + s.critical, 0) >= size;
    };
    const stormStarted = performance.now();
    const storm = await probe(critical);
    const stormMs = performance.now() - stormStarted;
    const mem = memory(cp.child.pid ?? 0);
    const fmt = (l: number[]): string => `p99 ${percentile(l, 99).toFixed(1)} ms, max ${(l[l.length - 1] ?? 0).toFixed(1)} ms (n=${l.length})`;
    process.stdout.write(`${String(size).padStart(7)} instances: registrations ${Math.round(single)}/s single, ${Math.round(bulk)}/s bulk; `
      + `heartbeats ${Math.round(heartbeats)}/s single, ${Math.round(bulkHeartbeats)}/s bulk; `
      + `RSS ${afterLoad.rssMb} MB loaded, ${afterList.rssMb} MB after a full list, ${mem.rssMb} MB after the storm (peak ${mem.peakMb} MB)\n`
      + `         full paged list of ${listed} in ${Math.round(listMs)} ms — small request meanwhile ${fmt(list)}\n`
      + `         expiry storm of ${size} leases (until all critical, ${Math.round(stormMs / 1_000)} s incl. the wait for the TTL) — small request meanwhile ${fmt(storm)}\n`);
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
