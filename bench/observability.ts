/**
 * What observability costs on the data path (issue 5): the mesh path (wrk → client sidecar
 * → server sidecar → nginx) with telemetry off (no metrics layer, no access log, no reports:
 * only trace propagation, which is always on), with the default (metrics and a report to the
 * control plane every second), and all on (plus one access-log line per request to a file at
 * each sidecar), all in the same run, the order rotating between rounds. Goal: on ≥ 90% of off's requests/s.
 * Figures are medians over BENCH_REPEATS rounds (default 3). Besides req/s, each mode's CPU per
 * request (both sidecars' user + system CPU over the measured run, divided by the requests
 * served): on a shared, noisy machine req/s swings with the neighbours' load, CPU per request
 * much less, so its on − off difference is the cost to read there — and it is measured a second
 * time at a fixed BENCH_OBS_RATE req/s (default 1,500, below saturation; bench/fixed-rate.ts),
 * where it moves least of all. mTLS is off in every mode (its
 * cost is bench/security.ts's), so the figures compare with the data-plane benchmark's.
 *
 *     npx tsc -p tsconfig.json && node dist/bench/observability.js
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startUpstreamAndControlPlane, type Tools } from './dataplane.js';
import { median, runFixedRate, sidecarEnv, startSidecar, type Child } from './lib.js';
import { cpuSecondsOf, runWrk, waitForOk, which, type WrkResult } from './proc.js';

const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 3);
const CONNECTIONS = 50;
const SECONDS = Number(process.env['BENCH_DATAPLANE_SECONDS'] ?? 5);
const WARMUP_SECONDS = 2;

/**
 * Where mode "on" writes its access logs: `file` (default: a file per sidecar in the run's
 * directory under TMPDIR — on a disk or a tmpfs, as TMPDIR says) or `stdout` (a pipe this script
 * reads and drops, as a log collector would).
 */
const ACCESS_LOG = process.env['BENCH_OBS_ACCESS_LOG'] === 'stdout' ? 'stdout' : 'file';

/** off: no metrics, no access log, no reports; metrics: the default (metrics and reports); on: metrics, reports and access logs. */
type Mode = 'off' | 'metrics' | 'on';
const MODES: readonly Mode[] = ['off', 'metrics', 'on'];

function telemetry(mode: Mode, dir: string, side: string): Record<string, unknown> {
  switch (mode) {
    case 'off': return { metrics: false, accessLog: 'off', report: 0 };
    case 'metrics': return { metrics: true, accessLog: 'off', report: '1s' };
    case 'on': return { metrics: true, accessLog: ACCESS_LOG === 'file' ? join(dir, `access-${side}.log`) : ACCESS_LOG, report: '1s' };
  }
}

async function sidecar(config: { service: string; controlPlane: string } & Record<string, unknown>, file: string): Promise<{ child: Child; upstreams: Record<string, string> }> {
  writeFileSync(file, JSON.stringify(config));
  const { child, ready } = await startSidecar(['--config', file], await sidecarEnv(config.controlPlane, config.service));
  return { child, upstreams: ready.upstreams };
}

/** A wrk run and the sidecars' CPU per request it cost (µs, both sidecars together), and the same at a fixed rate. */
interface Measurement extends WrkResult {
  cpuUsPerRequest: number;
  /** Both sidecars' CPU per request at {@link FIXED_RATE} req/s: below saturation, so scheduling on a shared machine moves it far less than req/s at saturation. */
  fixedRateCpuUs: number;
}

/**
 * BENCH_OBS_PIN=1: the two sidecars get CPU 1 to themselves and everything else (this script,
 * wrk, nginx, the control plane) stays on CPU 0 — run the script as `taskset -c 0 node …`. The
 * sidecar pair then saturates one core of its own, so its requests/s reflect its CPU per request
 * rather than how the scheduler shared two cores among five busy processes.
 */
const PIN = process.env['BENCH_OBS_PIN'] === '1';

function pinToSecondCpu(pids: readonly number[]): void {
  for (const pid of pids) execFileSync('taskset', ['-a', '-p', '-c', '1', String(pid)], { stdio: 'ignore' });
}

/** The fixed rate (req/s) of the CPU-per-request measurement, and its length. */
const FIXED_RATE = Number(process.env['BENCH_OBS_RATE'] ?? 1500);
const FIXED_RATE_SECONDS = 5;

async function measure(mode: Mode, dir: string, controlPlane: string, upstreamPort: number, tools: Tools): Promise<Measurement> {
  const server = await sidecar({
    service: `hello-${mode}`, id: `hello-${mode}-1`, controlPlane, app: { port: upstreamPort }, mtls: { mode: 'off' }, telemetry: telemetry(mode, dir, 'server'),
  }, join(dir, `server-${mode}.json`));
  let client: Awaited<ReturnType<typeof sidecar>> | undefined;
  try {
    client = await sidecar({
      service: 'bench-client', id: `bench-client-${mode}`, controlPlane, upstreams: [{ service: `hello-${mode}`, port: 0 }], mtls: { mode: 'off' }, telemetry: telemetry(mode, dir, 'client'),
    }, join(dir, `client-${mode}.json`));
    const url = `http://${client.upstreams[`hello-${mode}`]}/`;
    await waitForOk(url);
    await runWrk(tools.wrk, url, CONNECTIONS, WARMUP_SECONDS);
    const pids = [client.child.child.pid, server.child.child.pid].filter((pid): pid is number => pid !== undefined);
    if (PIN) pinToSecondCpu(pids);
    const cpu = (): number => pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
    const before = cpu();
    const wrk = await runWrk(tools.wrk, url, CONNECTIONS, SECONDS);
    const cpuUsPerRequest = ((cpu() - before) * 1e6) / Math.max(1, wrk.requests);
    let rateStart = cpu();
    const rate = await runFixedRate(url, { rate: FIXED_RATE, seconds: FIXED_RATE_SECONDS, onMeasuring: () => { rateStart = cpu(); } });
    return { ...wrk, cpuUsPerRequest, fixedRateCpuUs: ((cpu() - rateStart) * 1e6) / Math.max(1, rate.counted) };
  } finally {
    await client?.child.stop();
    await server.child.stop();
  }
}

function countLines(file: string): number {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').length;
  } catch {
    return 0;
  }
}

export async function observabilityBench(): Promise<void> {
  const tools: Tools = { haproxy: '', nginx: which('nginx'), wrk: which('wrk') };
  const figures: Record<Mode, Measurement[]> = { off: [], metrics: [], on: [] };
  const ratios: Record<Exclude<Mode, 'off'>, number[]> = { metrics: [], on: [] };
  for (let index = 0; index < REPEATS; index += 1) {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-obs-'));
    const stops: Array<() => Promise<void>> = [];
    try {
      const { upstreamPort, cp } = await startUpstreamAndControlPlane(dir, tools, stops);
      const order: Mode[] = MODES.map((_, i) => MODES[(i + index) % MODES.length] as Mode);
      const round: Partial<Record<Mode, Measurement>> = {};
      for (const mode of order) {
        const wrk = await measure(mode, dir, cp.url, upstreamPort, tools);
        round[mode] = wrk;
        figures[mode].push(wrk);
        const logged = mode === 'on' && ACCESS_LOG === 'file' ? `; access-log lines: client ${countLines(join(dir, 'access-client.log'))}, server ${countLines(join(dir, 'access-server.log'))}` : '';
        process.stdout.write(`round ${index + 1}/${REPEATS} telemetry ${mode}: ${wrk.requestsPerSec.toFixed(0)} req/s (${wrk.errors} errors), p50 ${wrk.p50Ms.toFixed(2)} ms, p99 ${wrk.p99Ms.toFixed(2)} ms, sidecars' CPU ${wrk.cpuUsPerRequest.toFixed(0)} µs/request, at ${FIXED_RATE}/s ${wrk.fixedRateCpuUs.toFixed(0)} µs/request${logged}; load average ${loadavg()[0]?.toFixed(2)}\n`);
      }
      ratios.metrics.push(round.metrics!.requestsPerSec / round.off!.requestsPerSec);
      ratios.on.push(round.on!.requestsPerSec / round.off!.requestsPerSec);
    } finally {
      for (const stop of stops.reverse()) await stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  process.stdout.write(`\n| telemetry | req/s (median) | p50 ms | p99 ms | sidecars' CPU µs/request at saturation (median) | sidecars' CPU µs/request at ${FIXED_RATE}/s (median) |\n| --- | ---: | ---: | ---: | ---: | ---: |\n`);
  for (const mode of MODES) {
    const w = figures[mode];
    process.stdout.write(`| ${mode} | ${median(w.map((x) => x.requestsPerSec)).toFixed(0)} | ${median(w.map((x) => x.p50Ms)).toFixed(2)} | ${median(w.map((x) => x.p99Ms)).toFixed(2)} | ${median(w.map((x) => x.cpuUsPerRequest)).toFixed(0)} | ${median(w.map((x) => x.fixedRateCpuUs)).toFixed(0)} |\n`);
  }
  for (const mode of ['metrics', 'on'] as const) {
    process.stdout.write(`\n${mode}/off per round: ${ratios[mode].map((r) => r.toFixed(3)).join(', ')} (median ${median(ratios[mode]).toFixed(3)}); goal ≥ 0.90`);
    // CPU bound: the requests/s the same CPU buys, relative to off (off's CPU per request / this mode's), per round.
    const capacity = figures[mode].map((m, i) => (figures.off[i]?.fixedRateCpuUs ?? 0) / m.fixedRateCpuUs);
    process.stdout.write(`\n${mode}/off by CPU per request at ${FIXED_RATE}/s (off's µs ÷ ${mode}'s), per round: ${capacity.map((r) => r.toFixed(3)).join(', ')} (median ${median(capacity).toFixed(3)})`);
  }
  process.stdout.write(`\nload average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await observabilityBench();
