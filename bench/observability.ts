/**
 * What observability costs on the data path (issue 5): the mesh path (wrk → client sidecar
 * → server sidecar → nginx) with telemetry off (no metrics layer, no access log, no reports:
 * only trace propagation, which is always on), with the default (metrics and a report to the
 * control plane every second), and all on (plus one access-log line per request at each
 * sidecar). Goal: on ≥ 90% of off's requests/s.
 *
 * How, on a shared machine whose speed drifts by tens of percent from one minute to the next:
 * each round starts the three modes' sidecar pairs side by side (separate services, one
 * nginx) and then measures them in short windows (BENCH_OBS_WINDOW_SECONDS, default 3),
 * cycling through the modes BENCH_OBS_WINDOWS times (default 6; the order rotates). A mode's
 * ratio to "off" is taken per cycle — windows seconds apart, so the drift is common to both —
 * and reported as the median and quartiles over all cycles of all BENCH_REPEATS rounds
 * (default 3). Besides req/s, each window's CPU per request (both sidecars' user + system CPU
 * over the window ÷ the requests served), and once per round each mode's CPU per request at a
 * fixed BENCH_OBS_RATE req/s (default 1,500, below saturation; bench/fixed-rate.ts), where it
 * moves least of all. mTLS is off in every mode (its cost is bench/security.ts's), so the
 * figures compare with the data-plane benchmark's.
 *
 *     npx tsc -p tsconfig.json && node dist/bench/observability.js
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startUpstreamAndControlPlane, type Tools } from './dataplane.js';
import { median, percentile, runFixedRate, sidecarEnv, startSidecar, type Child } from './lib.js';
import { cpuSecondsOf, runWrk, waitForOk, which, type WrkResult } from './proc.js';

const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 3);
const CONNECTIONS = 50;
/** A measured window's length (s), and how many cycles (each mode once, back to back) a round has. */
const SECONDS = Number(process.env['BENCH_OBS_WINDOW_SECONDS'] ?? 3);
const WINDOWS = Number(process.env['BENCH_OBS_WINDOWS'] ?? 6);
const WARMUP_SECONDS = 3;

/**
 * Where mode "on" writes its access logs (BENCH_OBS_ACCESS_LOG): `file` (default: a file per
 * sidecar in the run's directory under TMPDIR — on a disk or a tmpfs, as TMPDIR says), `stdout`
 * (a pipe this script drains and drops, as a log collector would) or `null` (/dev/null: every
 * line made, buffered and written, but no destination's cost — Trellis's own share).
 */
const ACCESS_LOG: 'file' | 'stdout' | 'null' = (['stdout', 'null'] as const).find((d) => d === process.env['BENCH_OBS_ACCESS_LOG']) ?? 'file';

function accessLogTarget(dir: string, side: string): string {
  switch (ACCESS_LOG) {
    case 'file': return join(dir, `access-${side}.log`);
    case 'stdout': return 'stdout';
    case 'null': return '/dev/null';
  }
}

/** off: no metrics, no access log, no reports; metrics: the default (metrics and reports); on: metrics, reports and access logs. */
type Mode = 'off' | 'metrics' | 'on';
const MODES: readonly Mode[] = ['off', 'metrics', 'on'];

function telemetry(mode: Mode, dir: string, side: string): Record<string, unknown> {
  switch (mode) {
    case 'off': return { metrics: false, accessLog: 'off', report: 0 };
    case 'metrics': return { metrics: true, accessLog: 'off', report: '1s' };
    case 'on': return { metrics: true, accessLog: accessLogTarget(dir, side), report: '1s' };
  }
}

async function sidecar(config: { service: string; controlPlane: string } & Record<string, unknown>, file: string): Promise<{ child: Child; upstreams: Record<string, string> }> {
  writeFileSync(file, JSON.stringify(config));
  const { child, ready } = await startSidecar(['--config', file], await sidecarEnv(config.controlPlane, config.service));
  return { child, upstreams: ready.upstreams };
}

/** One measured window of one mode: wrk at saturation, and the pair's CPU per request over it (µs, both sidecars together). */
interface Window extends WrkResult {
  cpuUsPerRequest: number;
}

/**
 * Pinning (the default on a machine with two or more CPUs; BENCH_OBS_PIN=0 turns it off): the
 * sidecars get CPU 1 to themselves and everything else (this script, wrk, nginx, the control
 * plane — all started after this script moved itself to CPU 0) stays on CPU 0. The pair being
 * measured then saturates one core of its own, so its requests/s reflect its CPU per request
 * rather than how the scheduler shared two cores among five busy processes.
 */
const PIN = process.env['BENCH_OBS_PIN'] !== '0' && availableParallelism() >= 2 && hasTaskset();

/** taskset (util-linux) is there: pinning needs it; without it the benchmark runs unpinned and says so. */
function hasTaskset(): boolean {
  try {
    which('taskset');
    return true;
  } catch {
    return false;
  }
}

/** `taskset -a -p -c CPUS PID` for each pid (all of its threads); CPUS such as "1" or "0-1". */
function pinTo(cpus: string, pids: readonly number[]): void {
  for (const pid of pids) execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

/** The fixed rate (req/s) of the CPU-per-request measurement, and its length. */
const FIXED_RATE = Number(process.env['BENCH_OBS_RATE'] ?? 1500);
const FIXED_RATE_SECONDS = 5;

/** One mode's sidecar pair (client sidecar → server sidecar → nginx), started once per round. */
interface Pair {
  readonly mode: Mode;
  readonly url: string;
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

async function startPair(mode: Mode, dir: string, controlPlane: string, upstreamPort: number, tools: Tools): Promise<Pair> {
  const server = await sidecar({
    service: `hello-${mode}`, id: `hello-${mode}-1`, controlPlane, app: { port: upstreamPort }, mtls: { mode: 'off' }, telemetry: telemetry(mode, dir, 'server'),
  }, join(dir, `server-${mode}.json`));
  try {
    const client = await sidecar({
      service: 'bench-client', id: `bench-client-${mode}`, controlPlane, upstreams: [{ service: `hello-${mode}`, port: 0 }], mtls: { mode: 'off' }, telemetry: telemetry(mode, dir, 'client'),
    }, join(dir, `client-${mode}.json`));
    const url = `http://${client.upstreams[`hello-${mode}`]}/`;
    const pids = [client.child.child.pid, server.child.child.pid].filter((pid): pid is number => pid !== undefined);
    const stop = async (): Promise<void> => {
      await client.child.stop();
      await server.child.stop();
    };
    try {
      // Pinned before the warm-up, so that the JIT's compiles (on threads of their own) happen there too.
      if (PIN) pinTo('1', pids);
      await waitForOk(url);
      await runWrk(tools.wrk, url, CONNECTIONS, WARMUP_SECONDS);
    } catch (err) {
      await stop();
      throw err;
    }
    return { mode, url, pids, stop };
  } catch (err) {
    await server.child.stop();
    throw err;
  }
}

function cpuOf(pair: Pair): number {
  return pair.pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
}

/**
 * A window of wrk at saturation on each of `pairs` at the same time (one pair: that pair alone).
 *
 * All three pairs at once, each by its own wrk, sharing one core (pinned): every pair runs at
 * the same machine speed at every instant, so the drift that makes windows measured one after
 * another differ by ±20% is common to all three. Each pair's requests/s is then its share of the
 * core ÷ its CPU per request; the scheduler shares the core fairly among runnable processes, so
 * on/off req/s here is, in effect, off's CPU per request ÷ on's.
 */
async function measureWindows(pairs: readonly Pair[], tools: Tools): Promise<Window[]> {
  const before = pairs.map(cpuOf);
  const results = await Promise.all(pairs.map((pair) => runWrk(tools.wrk, pair.url, CONNECTIONS, SECONDS)));
  return results.map((wrk, i) => ({ ...wrk, cpuUsPerRequest: ((cpuOf(pairs[i]) - before[i]) * 1e6) / Math.max(1, wrk.requests) }));
}

/** Both sidecars' CPU per request (µs) at {@link FIXED_RATE} req/s: below saturation, where scheduling on a shared machine moves it far less than req/s at saturation. */
async function fixedRateCpu(pair: Pair): Promise<number> {
  let start = cpuOf(pair);
  const rate = await runFixedRate(pair.url, { rate: FIXED_RATE, seconds: FIXED_RATE_SECONDS, onMeasuring: () => { start = cpuOf(pair); } });
  return ((cpuOf(pair) - start) * 1e6) / Math.max(1, rate.counted);
}

function countLines(file: string): number {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').length;
  } catch {
    return 0;
  }
}

/** The n-th of MODES, rotated by `shift`. */
function rotated(shift: number): Mode[] {
  return MODES.map((_, i) => MODES[(i + shift) % MODES.length]);
}

export async function observabilityBench(): Promise<void> {
  const tools: Tools = { haproxy: '', nginx: which('nginx'), wrk: which('wrk') };
  // Restored at the end: `make bench` runs the other benchmarks in this process after this one.
  if (PIN) pinTo('0', [process.pid]);
  try {
    await runRounds(tools);
  } finally {
    if (PIN) pinTo(`0-${availableParallelism() - 1}`, [process.pid]);
  }
}

async function runRounds(tools: Tools): Promise<void> {
  process.stdout.write(`observability: ${PIN ? 'sidecars pinned to CPU 1, the rest on CPU 0' : 'not pinned'}; access logs to ${{ file: `files in ${tmpdir()}`, stdout: 'stdout (a pipe, drained)', null: '/dev/null' }[ACCESS_LOG]}; ${REPEATS} rounds of ${WINDOWS} cycles of ${SECONDS} s windows\n`);
  const windows: Record<Mode, Window[]> = { off: [], metrics: [], on: [] };
  const fixed: Record<Mode, number[]> = { off: [], metrics: [], on: [] };
  /** Per cycle (the three modes measured back to back), the mode's req/s ÷ off's. */
  const ratios: Record<Exclude<Mode, 'off'>, number[]> = { metrics: [], on: [] };
  /** Per window with all three saturated at once (measureWindows), the mode's req/s ÷ off's. */
  const together: Record<Exclude<Mode, 'off'>, number[]> = { metrics: [], on: [] };
  const log = (text: string): void => { process.stdout.write(`${text}; load average ${loadavg()[0]?.toFixed(2)}\n`); };
  for (let round = 0; round < REPEATS; round += 1) {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-obs-'));
    const stops: Array<() => Promise<void>> = [];
    try {
      const { upstreamPort, cp } = await startUpstreamAndControlPlane(dir, tools, stops);
      const pairs = new Map<Mode, Pair>();
      for (const mode of MODES) {
        const pair = await startPair(mode, dir, cp.url, upstreamPort, tools);
        stops.push(() => pair.stop());
        pairs.set(mode, pair);
      }
      for (let cycle = 0; cycle < WINDOWS; cycle += 1) {
        const cycleResult: Partial<Record<Mode, Window>> = {};
        for (const mode of rotated(cycle + round)) {
          const [w] = await measureWindows([pairs.get(mode)!], tools) as [Window];
          cycleResult[mode] = w;
          windows[mode].push(w);
          log(`round ${round + 1}/${REPEATS} window ${cycle + 1}/${WINDOWS} telemetry ${mode}: ${w.requestsPerSec.toFixed(0)} req/s (${w.errors} errors), p50 ${w.p50Ms.toFixed(2)} ms, p99 ${w.p99Ms.toFixed(2)} ms, sidecars' CPU ${w.cpuUsPerRequest.toFixed(0)} µs/request`);
        }
        ratios.metrics.push(cycleResult.metrics!.requestsPerSec / cycleResult.off!.requestsPerSec);
        ratios.on.push(cycleResult.on!.requestsPerSec / cycleResult.off!.requestsPerSec);
        const all = [...pairs.values()];
        const t = Object.fromEntries((await measureWindows(all, tools)).map((w, i) => [all[i].mode, w])) as Record<Mode, Window>;
        for (const mode of ['metrics', 'on'] as const) together[mode].push(t[mode].requestsPerSec / t.off.requestsPerSec);
        log(`round ${round + 1}/${REPEATS} window ${cycle + 1}/${WINDOWS} all three at once: ${MODES.map((m) => `${m} ${t[m].requestsPerSec.toFixed(0)} req/s (${t[m].errors} errors) ${t[m].cpuUsPerRequest.toFixed(0)} µs/request`).join(', ')}`);
      }
      for (const mode of rotated(round)) {
        const us = await fixedRateCpu(pairs.get(mode)!);
        fixed[mode].push(us);
        log(`round ${round + 1}/${REPEATS} telemetry ${mode} at ${FIXED_RATE} req/s: sidecars' CPU ${us.toFixed(0)} µs/request`);
      }
      if (ACCESS_LOG === 'file') log(`round ${round + 1}/${REPEATS} access-log lines: client ${countLines(join(dir, 'access-client.log'))}, server ${countLines(join(dir, 'access-server.log'))}`);
    } finally {
      for (const stop of stops.reverse()) await stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  process.stdout.write(`\n| telemetry | req/s at saturation (median of ${windows.off.length} windows) | p50 ms | p99 ms | sidecars' CPU µs/request at saturation (median) | at ${FIXED_RATE} req/s (median of ${REPEATS}) |\n| --- | ---: | ---: | ---: | ---: | ---: |\n`);
  for (const mode of MODES) {
    const w = windows[mode];
    process.stdout.write(`| ${mode} | ${median(w.map((x) => x.requestsPerSec)).toFixed(0)} | ${median(w.map((x) => x.p50Ms)).toFixed(2)} | ${median(w.map((x) => x.p99Ms)).toFixed(2)} | ${median(w.map((x) => x.cpuUsPerRequest)).toFixed(0)} | ${median(fixed[mode]).toFixed(0)} |\n`);
  }
  for (const mode of ['metrics', 'on'] as const) {
    const r = [...ratios[mode]].sort((a, b) => a - b);
    process.stdout.write(`\n${mode}/off req/s, one after another, per cycle: ${ratios[mode].map((x) => x.toFixed(3)).join(', ')}\n  median ${median(r).toFixed(3)}, quartiles ${percentile(r, 25).toFixed(3)}–${percentile(r, 75).toFixed(3)}; goal ≥ 0.90`);
    const a = [...together[mode]].sort((x, y) => x - y);
    process.stdout.write(`\n${mode}/off req/s, all at once${PIN ? ' on one core' : ''}, per window: ${together[mode].map((x) => x.toFixed(3)).join(', ')}\n  median ${median(a).toFixed(3)}, quartiles ${percentile(a, 25).toFixed(3)}–${percentile(a, 75).toFixed(3)}; goal ≥ 0.90`);
    // CPU bound: the requests/s the same CPU buys, relative to off (off's CPU per request ÷ this mode's), per round.
    const capacity = fixed[mode].map((us, i) => (fixed.off[i] ?? 0) / us);
    process.stdout.write(`\n${mode}/off by CPU per request at ${FIXED_RATE} req/s (off's µs ÷ ${mode}'s), per round: ${capacity.map((x) => x.toFixed(3)).join(', ')} (median ${median(capacity).toFixed(3)})\n`);
  }
  process.stdout.write(`load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await observabilityBench();
