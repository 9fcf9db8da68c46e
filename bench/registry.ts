/**
 * Registry benchmarks (issue 2): registrations/s and heartbeats/s through the HTTP API, and
 * watch fan-out — one change delivered to 1,000 open watchers, p50/p99. The reference in the
 * same run is a bare node:http server (no store): our throughput as a share of the HTTP ceiling.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, Pool, request } from 'undici';
import { adminHeaders, median, percentile, startChild, startControlPlane, throughput } from './lib.js';
import { fileURLToPath } from 'node:url';

const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 3);
const CONCURRENCY = 64;
const REGISTRATIONS = 20_000;
const HEARTBEATS = 40_000;
const WATCHERS = 1_000;
const CHANGES = 30;
const WARMUP = 3;

const referenceScript = resolve(dirname(fileURLToPath(import.meta.url)), 'reference-server.js');

function body(i: number): string {
  return JSON.stringify({ address: '127.0.0.1', port: 10_000 + (i % 50_000), ttl: '60s', metadata: { version: 'v1', zone: i % 2 === 0 ? 'a' : 'b' } });
}

async function put(pool: Pool, path: string, payload?: string, headers: Record<string, string> = {}): Promise<void> {
  const res = await pool.request({ method: 'PUT', path, headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, ...(payload === undefined ? {} : { body: payload }) });
  await res.body.dump();
  if (res.statusCode >= 300) throw new Error(`PUT ${path} → ${res.statusCode}`);
}

export interface FanoutFigures {
  fanoutP50Ms: number;
  fanoutP99Ms: number;
  fanoutMaxMs: number;
}

/**
 * Fan-out: 1,000 NDJSON watchers on one service of the control plane at `url`; one registration
 * at a time through `pool`, each timed from the PUT until every watcher has it.
 */
export async function watchFanout(url: string, pool: Pool, round: number): Promise<FanoutFigures> {
  const agent = new Agent({ connections: WATCHERS + 10 });
  const latencies: number[] = [];
  const byName = new Map<string, { sentAt: bigint; arrivals: number[] }>();
  const watchers = await Promise.all(Array.from({ length: WATCHERS }, async () => {
    const res = await request(`${url}/v1/watch?service=fan&format=ndjson`, { dispatcher: agent, bodyTimeout: 0, headers: adminHeaders(url) });
    res.body.on('error', () => undefined); // destroyed at the end of the round
    const lines = createInterface({ input: res.body });
    lines.on('error', () => undefined);
    lines.on('line', (line) => {
      if (line === '') return;
      const at = process.hrtime.bigint();
      const event = JSON.parse(line) as { id: string };
      const entry = byName.get(event.id);
      if (entry !== undefined) entry.arrivals.push(Number(at - entry.sentAt) / 1e6);
    });
    return res;
  }));
  // The first WARMUP changes warm the JIT and every connection; they are not counted.
  for (let c = -WARMUP; c < CHANGES; c += 1) {
    const id = `f${round}-${c + WARMUP}`;
    const entry = { sentAt: process.hrtime.bigint(), arrivals: [] as number[] };
    byName.set(id, entry);
    await put(pool, `/v1/services/fan/instances/${id}`, body(c), adminHeaders(url));
    const deadline = Date.now() + 10_000;
    while (entry.arrivals.length < WATCHERS && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    if (entry.arrivals.length < WATCHERS) throw new Error(`only ${entry.arrivals.length}/${WATCHERS} watchers got change ${c}`);
    if (c >= 0) latencies.push(...entry.arrivals);
  }
  for (const w of watchers) w.body.destroy();
  await agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    fanoutP50Ms: percentile(latencies, 50),
    fanoutP99Ms: percentile(latencies, 99),
    fanoutMaxMs: latencies.at(-1) ?? Number.NaN,
  };
}

/** Registrations/s through the API: `total` PUTs with CONCURRENCY in flight. */
export function registrations(pool: Pool, url: string, total: number, prefix = 'i'): Promise<number> {
  return throughput(total, CONCURRENCY, (i) => put(pool, `/v1/services/bench/instances/${prefix}${i}`, body(i), adminHeaders(url)));
}

export interface RegistryFigures extends FanoutFigures {
  referencePutsPerSec: number;
  registrationsPerSec: number;
  heartbeatsPerSec: number;
}

async function once(round: number): Promise<RegistryFigures> {
  const dataDir = mkdtempSync(join(tmpdir(), 'trellis-bench-'));
  const reference = await startChild([referenceScript], (line) => line.startsWith('listening ') ? line.slice(10) : undefined);
  const cp = await startControlPlane(dataDir);
  try {
    const refPool = new Pool(reference.url, { connections: CONCURRENCY });
    const referencePutsPerSec = await throughput(REGISTRATIONS, CONCURRENCY, (i) => put(refPool, `/v1/services/bench/instances/i${i}`, body(i)));
    await refPool.close();

    const pool = new Pool(cp.url, { connections: CONCURRENCY });
    const registrationsPerSec = await registrations(pool, cp.url, REGISTRATIONS);
    const heartbeatsPerSec = await throughput(HEARTBEATS, CONCURRENCY, (i) => put(pool, `/v1/services/bench/instances/i${i % REGISTRATIONS}/heartbeat`, undefined, adminHeaders(cp.url)));

    const fan = await watchFanout(cp.url, pool, round);
    await pool.close();
    return { referencePutsPerSec, registrationsPerSec, heartbeatsPerSec, ...fan };
  } finally {
    await cp.stop();
    await reference.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function registryBench(): Promise<void> {
  const rounds: RegistryFigures[] = [];
  for (let r = 0; r < REPEATS; r += 1) {
    const f = await once(r);
    rounds.push(f);
    process.stdout.write(`round ${r + 1}/${REPEATS}: ${JSON.stringify(Object.fromEntries(Object.entries(f).map(([k, v]) => [k, Math.round(v * 10) / 10])))}\n`);
  }
  const m = (k: keyof RegistryFigures): number => median(rounds.map((f) => f[k]));
  const rows: Array<[string, string]> = [
    ['reference: bare node:http PUT (no store), req/s', m('referencePutsPerSec').toFixed(0)],
    ['registrations/s (HTTP API, SQLite, 64 in flight)', m('registrationsPerSec').toFixed(0)],
    ['  ratio to the reference', (m('registrationsPerSec') / m('referencePutsPerSec')).toFixed(2)],
    ['heartbeats/s (HTTP API, 64 in flight)', m('heartbeatsPerSec').toFixed(0)],
    ['  ratio to the reference', (m('heartbeatsPerSec') / m('referencePutsPerSec')).toFixed(2)],
    [`watch fan-out to ${WATCHERS} watchers, p50 ms`, m('fanoutP50Ms').toFixed(1)],
    [`watch fan-out to ${WATCHERS} watchers, p99 ms`, m('fanoutP99Ms').toFixed(1)],
    [`watch fan-out to ${WATCHERS} watchers, max ms`, m('fanoutMaxMs').toFixed(1)],
  ];
  process.stdout.write(`\nmedians of ${REPEATS} rounds\n| measure | value |\n| --- | --- |\n${rows.map(([a, b]) => `| ${a} | ${b} |`).join('\n')}\n`);
}
