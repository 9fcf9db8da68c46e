/**
 * The control plane at scale (issue 13): registrations/s (single, and bulk: 1,000 instances of
 * one service a call), heartbeats/s (single, bulk, and over keep-alive streams: one per
 * service, a line per heartbeat, with the p99 of an ack), RSS / peak RSS, restart time (to
 * serving, and to a full list), and p99 / max of a small request (GET /v1/services/small,
 * one at a time) while the whole registry is listed page by page, and while every lease expires
 * at once (all renewed by one wave of bulk heartbeats, then left to lapse: TTL BENCH_CP_TTL, default 90 s). Sizes from
 * BENCH_CP_SIZES (default 10000,50000), each on a fresh embedded control plane (rate limit off).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { ControlPlaneClient } from '../src/client/control-plane.js';
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
/** The first 5,000 (registered one by one) round-robin over 100 services; the rest in blocks of BULK per service. */
const SINGLES = 5_000;
const serviceOf = (i: number): string => `svc-${(i < SINGLES ? i : Math.floor(i / BULK)) % 100}`;
/** Keep-alive streams (one per service) and heartbeats in flight on each. */
const STREAMS = 100;
const STREAM_DEPTH = 8;
const idOf = (i: number): string => `i-${i}`;

async function json(pool: Pool, method: 'GET' | 'PUT', path: string, headers: Record<string, string>, payload?: unknown): Promise<unknown> {
  const res = await pool.request({ method, path, headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, ...(payload === undefined ? {} : { body: JSON.stringify(payload) }) });
  const text = await res.body.text();
  if (res.statusCode >= 400) throw new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

async function one(size: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-cp-'));
  let cp = await startControlPlane(dir, ['--rate-limit', '0']);
  const headers = adminHeaders(cp.url);
  const pool = new Pool(cp.url, { connections: 64 });
  const probePool = new Pool(cp.url, { connections: 1 });
  try {
    const singles = Math.min(size, SINGLES);
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
    // Heartbeats over keep-alive streams: every instance once, a line each, STREAM_DEPTH in flight per stream.
    const streamClient = new ControlPlaneClient(cp.url, (headers['authorization'] ?? '').replace(/^Bearer /, ''));
    const byService = new Map<string, number[]>();
    for (let i = 0; i < size; i += 1) {
      const members = byService.get(serviceOf(i));
      if (members === undefined) byService.set(serviceOf(i), [i]);
      else members.push(i);
    }
    const streams = [...byService].slice(0, STREAMS).map(([service, members]) => ({ stream: streamClient.heartbeatStream(service), members }));
    await Promise.all(streams.map(({ stream, members }) => stream.beat([idOf(members[0] ?? 0)]))); // opened
    const acks: number[] = [];
    const streamStarted = performance.now();
    await Promise.all(streams.flatMap(({ stream, members }) => Array.from({ length: STREAM_DEPTH }, async (_, lane) => {
      for (let k = lane; k < members.length; k += STREAM_DEPTH) {
        const sent = performance.now();
        const ack = await stream.beat([idOf(members[k] ?? 0)]);
        if (ack.failed.length > 0) throw ack.failed[0]?.error;
        acks.push(performance.now() - sent);
      }
    })));
    const streamHeartbeats = size / ((performance.now() - streamStarted) / 1_000);
    for (const { stream } of streams) stream.close();
    acks.sort((a, b) => a - b);
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

    // Restart (kill -9, then the same data dir): to serving, and to a full list.
    await cp.stop();
    const restartStarted = performance.now();
    cp = await startControlPlane(dir, ['--rate-limit', '0']);
    const servingMs = performance.now() - restartStarted;
    const restarted = new Pool(cp.url, { connections: 4 });
    let relisted = 0;
    let next: string | null = null;
    do {
      const page = await json(restarted, 'GET', `/v1/instances?limit=1000${next === null ? '' : `&cursor=${next}`}`, adminHeaders(cp.url)) as { instances: unknown[]; cursor: string | null };
      relisted += page.instances.length;
      next = page.cursor;
    } while (next !== null);
    const relistMs = performance.now() - restartStarted;
    await restarted.close();
    const fmt = (l: number[]): string => `p99 ${percentile(l, 99).toFixed(1)} ms, max ${(l[l.length - 1] ?? 0).toFixed(1)} ms (n=${l.length})`;
    process.stdout.write(`${String(size).padStart(7)} instances: registrations ${Math.round(single)}/s single, ${Math.round(bulk)}/s bulk; `
      + `heartbeats ${Math.round(heartbeats)}/s single, ${Math.round(bulkHeartbeats)}/s bulk, ${Math.round(streamHeartbeats)}/s over ${streams.length} streams `
      + `(ack p50 ${percentile(acks, 50).toFixed(1)} ms, p99 ${percentile(acks, 99).toFixed(1)} ms); `
      + `RSS ${afterLoad.rssMb} MB loaded, ${afterList.rssMb} MB after a full list, ${mem.rssMb} MB after the storm (peak ${mem.peakMb} MB)\n`
      + `         full paged list of ${listed} in ${Math.round(listMs)} ms — small request meanwhile ${fmt(list)}\n`
      + `         expiry storm of ${size} leases (until all critical, ${Math.round(stormMs / 1_000)} s incl. the wait for the TTL) — small request meanwhile ${fmt(storm)}\n`
      + `         restart after kill -9: serving in ${Math.round(servingMs)} ms, all ${relisted} listed in ${Math.round(relistMs)} ms\n`);
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
