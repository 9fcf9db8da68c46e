/**
 * Data-plane benchmarks (issue 3): the same upstream reached directly, through HAProxy and
 * nginx (Debian's, configured equivalently: one thread / one worker, HTTP mode, keep-alive
 * to the upstream, X-Forwarded-For and X-Request-ID added), and through Trellis sidecars
 * run as separate `trellis proxy` processes against a real control plane:
 *
 *   direct             wrk → upstream
 *   haproxy            wrk → HAProxy (nbthread 1) → upstream
 *   nginx              wrk → nginx (1 worker, upstream keepalive) → upstream
 *   node-naive         wrk → ./naive-proxy.ts (node:http + one undici Pool, nothing else) → upstream: what plain Node does
 *   trellis-outbound   wrk → client sidecar's per-upstream port → upstream (registered as an instance): one hop, the full outbound pipeline
 *   trellis-inbound    wrk → server sidecar's inbound listener → upstream (its app): one hop, no layers
 *   trellis-pair       wrk → client sidecar (per-upstream port) → server sidecar (inbound, strict mTLS between the two) → upstream: the mesh path
 *
 * The upstream is nginx (one worker) answering a fixed "Hello, World!" — so that the
 * upstream is not what limits the proxies. For each path: saturation requests/s (wrk, one
 * thread, 50 connections), p50/p99 at a fixed 1,000 req/s from an open-loop generator
 * (./fixed-rate.ts, latency from the intended send time), the proxies' RSS idle and peak
 * under load (/proc/PID/status), their private memory (USS, /proc/PID/smaps_rollup), and
 * their CPU (/proc/PID/stat utime + stime).
 * Every round starts every process afresh and kills it at the end, and takes the paths in
 * a rotated order; figures are medians over BENCH_REPEATS rounds (default 3).
 *
 * Pinned and unpinned, side by side (BENCH_DATAPLANE_PIN=both, the default with taskset and
 * two CPUs or more; `on` or `off` for one): pinned, every proxy process (HAProxy, nginx, the
 * naive proxy, each sidecar — both sidecars of the pair) runs on CPU 1 and everything else
 * (wrk, the fixed-rate generator, the upstream nginx, the control plane) on CPU 0, so that a
 * proxy's figures are one core's worth and not what it took from the load generator.
 *
 *     npx tsc -p tsconfig.json && node dist/bench/dataplane.js
 *
 * or, from bench/run.ts (`make bench`), `dataplaneBench()`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { request } from 'undici';
import { freePorts } from '../src/run/free-port.js';
import type { FixedRateResult } from './fixed-rate.js';
import {
  FIXED_RATE_WARMUP_SECONDS, adminHeaders, median, pin, runFixedRate, sidecarEnv, startChild, startControlPlane, startSidecar,
  type Child, type SidecarReady,
} from './lib.js';
import {
  cpuSecondsOf, kill, memoryOf, MemorySampler, PeakSampler, privateMemoryOf, runWrk, startServer, track, versionOf, waitForOk, which, type Memory, type WrkResult,
} from './proc.js';

const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 3);
const CONNECTIONS = Number(process.env['BENCH_DATAPLANE_CONNECTIONS'] ?? 50);
const SATURATION_SECONDS = Number(process.env['BENCH_DATAPLANE_SECONDS'] ?? 5);
const WARMUP_SECONDS = 2;
const RATE = 1000;
const RATE_SECONDS = Number(process.env['BENCH_DATAPLANE_RATE_SECONDS'] ?? 6);
const BODY = 'Hello, World!\n';
/** Pinned: the proxies on PROXY_CPU, the load generator, upstream and control plane on LOAD_CPU. */
const PROXY_CPU = '1';
const LOAD_CPU = '0';

type PinMode = 'pinned' | 'unpinned';

function pinModes(): PinMode[] {
  const asked = process.env['BENCH_DATAPLANE_PIN'] ?? 'both';
  let canPin = availableParallelism() >= 2;
  try {
    which('taskset');
  } catch {
    canPin = false;
  }
  if (!canPin || asked === 'off') return ['unpinned'];
  return asked === 'on' ? ['pinned'] : ['unpinned', 'pinned'];
}

const here = dirname(fileURLToPath(import.meta.url));
const naiveProxyScript = resolve(here, 'naive-proxy.js');

const PATHS = ['direct', 'haproxy', 'nginx', 'node-naive', 'trellis-outbound', 'trellis-inbound', 'trellis-pair'] as const;
type PathKey = (typeof PATHS)[number];

const LABELS: Record<PathKey, string> = {
  'direct': 'direct (no proxy)',
  'haproxy': 'HAProxy, nbthread 1',
  'nginx': 'nginx, 1 worker',
  'node-naive': 'reference: naive node:http + undici proxy',
  'trellis-outbound': 'Trellis, 1 sidecar (outbound)',
  'trellis-inbound': 'Trellis, 1 sidecar (inbound)',
  'trellis-pair': 'Trellis, sidecar pair (mesh, strict mTLS)',
};

export interface Tools { haproxy: string; nginx: string; wrk: string }

export interface Round {
  readonly dir: string;
  readonly tools: Tools;
  readonly upstreamPort: number;
  readonly controlPlane: string;
}

/** A proxy process measured in a row. */
export interface Proc { readonly label: string; readonly pid: number }

interface Setup {
  readonly url: string;
  readonly procs: readonly Proc[];
  stop(): Promise<void>;
}

export interface ProcFigures {
  label: string;
  idle: Memory;
  /** Private memory (USS), MB: idle, and the peak under load. */
  idleUssMb: number;
  loadUssMb: number;
  /** Peak over the saturation run and the fixed-rate run. */
  load: Memory;
  /** Cores used while serving the fixed 1,000 req/s (0.12 = 12% of one core). */
  coresAtRate: number;
  /** CPU ms per 1,000 requests at saturation. */
  cpuMsPerThousandAtSaturation: number;
}

export interface PathFigures {
  path: PathKey;
  saturation: WrkResult;
  rate: FixedRateResult;
  procs: ProcFigures[];
}

// ---- configs ------------------------------------------------------------------------------

function nginxCommon(dir: string, name: string): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/${name}.pid;
error_log stderr warn;
events { worker_connections 4096; }
`;
}

function nginxTemps(dir: string, name: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${name}-${t};\n`).join('');
}

export function upstreamConf(dir: string, port: number): string {
  return `${nginxCommon(dir, 'upstream')}http {
  access_log off;
${nginxTemps(dir, 'upstream')}  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:${port};
    location / { default_type text/plain; return 200 "${BODY.replace('\n', '\\n')}"; }
  }
}
`;
}

function nginxProxyConf(dir: string, port: number, upstreamPort: number): string {
  return `${nginxCommon(dir, 'proxy')}http {
  access_log off;
${nginxTemps(dir, 'proxy')}  keepalive_requests 1000000;
  keepalive_timeout 60s;
  upstream app {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Request-ID $request_id;
    }
  }
}
`;
}

/** HAProxy as the reference: one thread, kept-alive both ways; `bind` adds e.g. its TLS options. */
export function haproxyConf(port: number, upstreamPort: number, tls?: { global: string; bind: string }): string {
  return `global
  nbthread 1
  maxconn 4096${tls === undefined ? '' : `\n  ${tls.global}`}
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 60s
  option http-keep-alive
  option forwardfor
  http-reuse always
frontend fe
  bind 127.0.0.1:${port}${tls === undefined ? '' : ` ${tls.bind}`}
  unique-id-format %[uuid()]
  http-request set-header X-Request-ID %[unique-id]
  default_backend app
backend app
  server app1 127.0.0.1:${upstreamPort}
`;
}

// ---- processes ------------------------------------------------------------------------------

export async function startNginx(round: Round, name: string, conf: string, url: string): Promise<Proc & { stop(): Promise<void> }> {
  const file = join(round.dir, `${name}.conf`);
  writeFileSync(file, conf);
  const server = startServer(round.tools.nginx, ['-p', round.dir, '-c', file, '-e', 'stderr']);
  try {
    await waitForOk(url);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { label: name, pid: server.pid, stop: server.stop };
}

async function startTrellisProxy(args: string[], mtls: 'off' | 'strict' = 'off'): Promise<{ child: Child; ready: SidecarReady }> {
  // One hop: mTLS off, to compare the proxy path with HAProxy and nginx in plaintext (bench/security.ts
  // measures what mutual TLS costs). The pair: strict mTLS between its two sidecars, as the issue's
  // pair goals are stated. Every sidecar needs a token for the API.
  const flag = (name: string): string => args[args.indexOf(name) + 1] ?? '';
  return startSidecar(['--mtls', mtls, ...args], await sidecarEnv(flag('--control-plane'), flag('--service')));
}

async function setupPath(path: PathKey, round: Round): Promise<Setup> {
  const upstream = `http://127.0.0.1:${round.upstreamPort}/`;
  switch (path) {
    case 'direct':
      return { url: upstream, procs: [], stop: async () => undefined };
    case 'haproxy': {
      const [port] = await freePorts(1);
      const file = join(round.dir, 'haproxy.cfg');
      writeFileSync(file, haproxyConf(port, round.upstreamPort));
      const server = startServer(round.tools.haproxy, ['-f', file, '-db']);
      const url = `http://127.0.0.1:${port}/`;
      try {
        await waitForOk(url);
      } catch (err) {
        await server.stop();
        throw err;
      }
      return { url, procs: [{ label: 'haproxy', pid: server.pid }], stop: server.stop };
    }
    case 'nginx': {
      const [port] = await freePorts(1);
      const url = `http://127.0.0.1:${port}/`;
      const proxy = await startNginx(round, 'proxy', nginxProxyConf(round.dir, port, round.upstreamPort), url);
      return { url, procs: [proxy], stop: proxy.stop };
    }
    case 'node-naive': {
      const naive = await startChild([naiveProxyScript, `http://127.0.0.1:${round.upstreamPort}`], (line) => (line.startsWith('listening ') ? line.slice(10) : undefined));
      track(naive.child);
      const url = `${naive.url}/`;
      await waitForOk(url).catch(async (err: unknown) => { await naive.stop(); throw err; });
      return { url, procs: [{ label: 'proxy', pid: naive.child.pid! }], stop: () => naive.stop() };
    }
    case 'trellis-outbound': {
      const client = await startTrellisProxy(['--service', 'bench-client', '--id', 'bench-client-out', '--control-plane', round.controlPlane, '--upstream', 'hello-direct:0']);
      const url = `http://${client.ready.upstreams['hello-direct']}/`;
      await waitForOk(url).catch(async (err: unknown) => { await client.child.stop(); throw err; });
      return { url, procs: [{ label: 'sidecar', pid: client.child.child.pid! }], stop: () => client.child.stop() };
    }
    case 'trellis-inbound': {
      const server = await startTrellisProxy(['--service', 'hello-in', '--id', 'hello-in-1', '--control-plane', round.controlPlane, '--app-port', String(round.upstreamPort)]);
      const url = `http://${server.ready.inbound}/`;
      await waitForOk(url).catch(async (err: unknown) => { await server.child.stop(); throw err; });
      return { url, procs: [{ label: 'sidecar', pid: server.child.child.pid! }], stop: () => server.child.stop() };
    }
    case 'trellis-pair': {
      const server = await startTrellisProxy(['--service', 'hello', '--id', 'hello-1', '--control-plane', round.controlPlane, '--app-port', String(round.upstreamPort)], 'strict');
      let client: Awaited<ReturnType<typeof startTrellisProxy>> | undefined;
      const stop = async (): Promise<void> => {
        await client?.child.stop();
        await server.child.stop();
      };
      try {
        client = await startTrellisProxy(['--service', 'bench-client', '--id', 'bench-client-pair', '--control-plane', round.controlPlane, '--upstream', 'hello:0'], 'strict');
        // Routes once the server sidecar's app passed its check and the registration reached the client's table.
        const url = `http://${client.ready.upstreams['hello']}/`;
        await waitForOk(url);
        return {
          url,
          procs: [{ label: 'client sidecar', pid: client.child.child.pid! }, { label: 'server sidecar', pid: server.child.child.pid! }],
          stop,
        };
      } catch (err) {
        await stop();
        throw err;
      }
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measure(path: PathKey, setup: Setup, tools: Tools): Promise<PathFigures> {
  const pids = setup.procs.map((p) => p.pid);
  await sleep(500);
  const idle = pids.map(memoryOf);
  const idleUss = pids.map(privateMemoryOf);
  await runWrk(tools.wrk, setup.url, CONNECTIONS, WARMUP_SECONDS);

  const ussSampler = new PeakSampler(pids, (pid) => ({ ussMb: privateMemoryOf(pid) }), { ussMb: 0 }, 250);
  const satSampler = new MemorySampler(pids);
  const satCpu0 = pids.map(cpuSecondsOf);
  const saturation = await runWrk(tools.wrk, setup.url, CONNECTIONS, SATURATION_SECONDS);
  const satCpu1 = pids.map(cpuSecondsOf);
  const satPeak = satSampler.stop();
  await sleep(1_000);

  const rateSampler = new MemorySampler(pids);
  let rateCpu0: number[] = pids.map(cpuSecondsOf);
  let rateT0 = performance.now();
  const rate = await runFixedRate(setup.url, { rate: RATE, seconds: RATE_SECONDS, onMeasuring: () => {
    rateCpu0 = pids.map(cpuSecondsOf);
    rateT0 = performance.now();
  } });
  const rateCpu1 = pids.map(cpuSecondsOf);
  const rateSeconds = (performance.now() - rateT0) / 1000;
  const ratePeak = rateSampler.stop();
  const ussPeak = ussSampler.stop().map((peak) => peak.ussMb);

  return {
    path,
    saturation,
    rate,
    procs: setup.procs.map((p, i) => ({
      label: p.label,
      idle: idle[i],
      idleUssMb: idleUss[i],
      loadUssMb: ussPeak[i],
      load: {
        rssMb: Math.max(satPeak[i].rssMb, ratePeak[i].rssMb),
        anonMb: Math.max(satPeak[i].anonMb, ratePeak[i].anonMb),
      },
      coresAtRate: (rateCpu1[i] - rateCpu0[i]) / rateSeconds,
      cpuMsPerThousandAtSaturation: ((satCpu1[i] - satCpu0[i]) * 1000 * 1000) / Math.max(1, saturation.requests),
    })),
  };
}

/**
 * What every mesh-path round starts with: nginx answering "Hello, World!" on a free port and a
 * control plane, each stopped by `stops` (run in reverse by the caller).
 */
export async function startUpstreamAndControlPlane(dir: string, tools: Tools, stops: Array<() => Promise<void>>): Promise<{ upstreamPort: number; cp: Awaited<ReturnType<typeof startControlPlane>> }> {
  const [port] = await freePorts(1);
  const upstreamPort = port;
  const upstream = await startNginx({ dir, tools, upstreamPort, controlPlane: '' }, 'upstream', upstreamConf(dir, upstreamPort), `http://127.0.0.1:${upstreamPort}/`);
  stops.push(upstream.stop);
  const cp = await startControlPlane(dir);
  track(cp.child);
  stops.push(() => cp.stop());
  return { upstreamPort, cp };
}

async function round(index: number, tools: Tools, mode: PinMode): Promise<PathFigures[]> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-dp-'));
  const stops: Array<() => Promise<void>> = [];
  // Children inherit this process's affinity: pinned, everything started from here runs on LOAD_CPU until moved.
  pin(process.pid, mode === 'pinned' ? LOAD_CPU : `0-${availableParallelism() - 1}`);
  try {
    const { upstreamPort, cp } = await startUpstreamAndControlPlane(dir, tools, stops);
    // The upstream itself as an instance, for the one-sidecar outbound path (no TTL: it stays passing).
    const registered = await request(`${cp.url}/v1/services/hello-direct/instances/upstream-1`, {
      method: 'PUT', body: JSON.stringify({ address: '127.0.0.1', port: upstreamPort }), headers: { 'content-type': 'application/json', ...adminHeaders(cp.url) },
    });
    await registered.body.dump();
    if (registered.statusCode >= 300) throw new Error(`registering the upstream failed: ${registered.statusCode}`);

    const ctx: Round = { dir, tools, upstreamPort, controlPlane: cp.url };
    const figures: PathFigures[] = [];
    // A different order each round, so that a drift in the machine's load does not always hit the same path.
    const order = PATHS.map((_, i) => PATHS[(i + index) % PATHS.length]);
    for (const path of order) {
      const setup = await setupPath(path, ctx);
      try {
        if (mode === 'pinned') for (const proc of setup.procs) pin(proc.pid, PROXY_CPU);
        figures.push(await measure(path, setup, tools));
      } finally {
        await setup.stop();
      }
      const f = figures.at(-1)!;
      process.stdout.write(`round ${index + 1}/${REPEATS} ${mode} ${path}: ${f.saturation.requestsPerSec.toFixed(0)} req/s (${f.saturation.errors} errors); `
        + `@${RATE}/s p50 ${f.rate.p50Ms.toFixed(2)} ms p99 ${f.rate.p99Ms.toFixed(2)} ms (${f.rate.errors} errors)`
        + `${f.procs.map((p) => `; ${p.label} RSS ${p.idle.rssMb.toFixed(1)}→${p.load.rssMb.toFixed(1)} MB, USS ${p.idleUssMb.toFixed(1)}→${p.loadUssMb.toFixed(1)} MB, `
          + `${(p.coresAtRate * 100).toFixed(1)}% core, ${p.cpuMsPerThousandAtSaturation.toFixed(0)} µs CPU/req`).join('')}\n`);
    }
    return figures;
  } finally {
    for (const stop of stops.reverse()) await stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The RSS of an idle bare `node` process: the floor under any sidecar written for Node. */
async function bareNodeRss(): Promise<Memory> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  track(child);
  await sleep(700);
  try {
    return memoryOf(child.pid!);
  } finally {
    await kill(child);
  }
}

const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–');
const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');

export interface DataplaneSummary {
  markdown: string;
  goals: Array<{ goal: string; measured: string; met: boolean; missedBy: string }>;
}

export function summarize(rounds: PathFigures[][], mode: PinMode = 'unpinned'): DataplaneSummary {
  const byPath = (path: PathKey): PathFigures[] => rounds.map((r) => r.find((f) => f.path === path)!);
  const med = (path: PathKey, pick: (f: PathFigures) => number): number => median(byPath(path).map(pick));
  /** Per round, the path's figure minus direct's in the same round; then the median. */
  const added = (path: PathKey, pick: (r: FixedRateResult) => number): number =>
    median(rounds.map((r) => pick(r.find((f) => f.path === path)!.rate) - pick(r.find((f) => f.path === 'direct')!.rate)));
  const ratio = (path: PathKey): number => median(rounds.map((r) =>
    r.find((f) => f.path === path)!.saturation.requestsPerSec / r.find((f) => f.path === 'haproxy')!.saturation.requestsPerSec));
  const procMed = (path: PathKey, i: number, pick: (p: ProcFigures) => number): number => median(byPath(path).map((f) => pick(f.procs[i])));
  const perProc = (path: PathKey, pick: (p: ProcFigures) => number, format: (n: number) => string): string => {
    const n = byPath(path)[0].procs.length;
    return n === 0 ? '–' : Array.from({ length: n }, (_, i) => format(procMed(path, i, pick))).join(' / ');
  };

  const header = '| path | req/s at saturation | × HAProxy | wrk p99 at saturation, ms | p50 at 1,000 req/s, ms | p99 at 1,000 req/s, ms | added p50, ms | added p99, ms | RSS idle, MB | RSS under load, MB | CPU at 1,000 req/s, % of a core | CPU ms per 1,000 req at saturation |';
  const rows = PATHS.map((path) => [
    LABELS[path],
    med(path, (f) => f.saturation.requestsPerSec).toFixed(0),
    f2(ratio(path)),
    f2(med(path, (f) => f.saturation.p99Ms)),
    f2(med(path, (f) => f.rate.p50Ms)),
    f2(med(path, (f) => f.rate.p99Ms)),
    path === 'direct' ? '–' : f2(added(path, (r) => r.p50Ms)),
    path === 'direct' ? '–' : f2(added(path, (r) => r.p99Ms)),
    perProc(path, (p) => p.idle.rssMb, f1),
    perProc(path, (p) => p.load.rssMb, f1),
    perProc(path, (p) => p.coresAtRate * 100, f1),
    perProc(path, (p) => p.cpuMsPerThousandAtSaturation, f1),
  ]);
  const sidecarRows: string[][] = [];
  for (const path of ['trellis-outbound', 'trellis-inbound', 'trellis-pair'] as const) {
    byPath(path)[0].procs.forEach((p, i) => {
      sidecarRows.push([
        `${LABELS[path]}: ${p.label}`,
        f1(procMed(path, i, (q) => q.idle.rssMb)), f1(procMed(path, i, (q) => q.idle.anonMb)), f1(procMed(path, i, (q) => q.idleUssMb)),
        f1(procMed(path, i, (q) => q.load.rssMb)), f1(procMed(path, i, (q) => q.load.anonMb)), f1(procMed(path, i, (q) => q.loadUssMb)),
      ]);
    });
  }
  const errors = rounds.flat().reduce((n, f) => n + f.saturation.errors + f.rate.errors, 0);
  const lag = byPath('direct').map((f) => f.rate);

  const maxRss = (pick: (p: ProcFigures) => number): number => Math.max(...(['trellis-outbound', 'trellis-inbound', 'trellis-pair'] as const)
    .flatMap((path) => byPath(path)[0].procs.map((_, i) => procMed(path, i, pick))));
  const cpuPerRequest = (path: PathKey): number => procMed(path, 0, (p) => p.cpuMsPerThousandAtSaturation);
  const goals = [
    { goal: `${mode}: one hop ≤ 45 µs of CPU per request at saturation (outbound)`, value: cpuPerRequest('trellis-outbound'), limit: 45, at: 'most' as const, unit: 'µs' },
    { goal: `${mode}: one hop ≤ 45 µs of CPU per request at saturation (inbound)`, value: cpuPerRequest('trellis-inbound'), limit: 45, at: 'most' as const, unit: 'µs' },
    { goal: `${mode}: one sidecar ≥ 0.6× single-thread HAProxy req/s (outbound hop)`, value: ratio('trellis-outbound'), limit: 0.6, at: 'least' as const, unit: '×' },
    { goal: `${mode}: one sidecar ≥ 0.6× single-thread HAProxy req/s (inbound hop)`, value: ratio('trellis-inbound'), limit: 0.6, at: 'least' as const, unit: '×' },
    { goal: `${mode}: sidecar pair adds < 0.5 ms p50 at 1,000 req/s`, value: added('trellis-pair', (r) => r.p50Ms), limit: 0.5, at: 'below' as const, unit: 'ms' },
    { goal: `${mode}: sidecar pair adds < 2 ms p99 at 1,000 req/s`, value: added('trellis-pair', (r) => r.p99Ms), limit: 2, at: 'below' as const, unit: 'ms' },
    { goal: `${mode}: ≤ 0.12 of a core per sidecar at 1,000 req/s (pair, largest)`, value: Math.max(procMed('trellis-pair', 0, (p) => p.coresAtRate), procMed('trellis-pair', 1, (p) => p.coresAtRate)), limit: 0.12, at: 'most' as const, unit: 'cores' },
    { goal: `${mode}: sidecar RSS ≤ 50 MB idle (largest sidecar)`, value: maxRss((p) => p.idle.rssMb), limit: 50, at: 'most' as const, unit: 'MB' },
    { goal: `${mode}: sidecar RSS ≤ 64 MB under load (largest sidecar)`, value: maxRss((p) => p.load.rssMb), limit: 64, at: 'most' as const, unit: 'MB' },
    { goal: `${mode}: sidecar private memory (USS) ≤ 15 MB idle (largest sidecar)`, value: maxRss((p) => p.idleUssMb), limit: 15, at: 'most' as const, unit: 'MB' },
  ].map((g) => {
    const met = g.at === 'most' ? g.value <= g.limit : g.at === 'least' ? g.value >= g.limit : g.value < g.limit;
    // How far from the goal: the difference and the factor (measured / goal, or goal / measured for an at-least goal).
    const factor = g.at === 'least' ? g.limit / g.value : g.value / g.limit;
    const missedBy = met ? '–' : `${f2(Math.abs(g.value - g.limit))} ${g.unit} (${f2(factor)}×)`;
    return { goal: g.goal, measured: `${f2(g.value)} ${g.unit}`, met, missedBy };
  });

  const serviceRows = PATHS.map((path) => [
    LABELS[path],
    f2(med(path, (f) => f.rate.serviceP50Ms)),
    f2(med(path, (f) => f.rate.serviceP99Ms)),
    path === 'direct' ? '–' : f2(added(path, (r) => r.serviceP50Ms)),
    path === 'direct' ? '–' : f2(added(path, (r) => r.serviceP99Ms)),
  ]);
  const markdown = [
    `### ${mode}${mode === 'pinned' ? ` (proxies on CPU ${PROXY_CPU}; wrk, generator, upstream, control plane on CPU ${LOAD_CPU})` : ''}`,
    '',
    `medians of ${rounds.length} rounds; wrk -t1 -c${CONNECTIONS} -d${SATURATION_SECONDS}s after a ${WARMUP_SECONDS} s warm-up; `
      + `open-loop ${RATE} req/s for ${RATE_SECONDS} s after ${FIXED_RATE_WARMUP_SECONDS} s (latency from the intended send time); `
      + `failed requests over all rounds: ${errors}`,
    '',
    header,
    `|${' --- |'.repeat(12)}`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    'Several processes in a cell: client / server sidecar. Added latency: per round, the path minus direct, then the median.',
    `Generator lag (how late requests left, part of every latency above): p50 ${f2(median(lag.map((r) => r.lagP50Ms)))} ms, p99 ${f2(median(lag.map((r) => r.lagP99Ms)))} ms.`,
    '',
    `The same ${RATE} req/s runs, latency from the actual send (without the generator's lag; not coordinated-omission safe):`,
    '',
    '| path | p50, ms | p99, ms | added p50, ms | added p99, ms |',
    '| --- | --- | --- | --- | --- |',
    ...serviceRows.map((r) => `| ${r.join(' | ')} |`),
    '',
    '| sidecar | RSS idle, MB | RssAnon idle, MB | USS idle, MB | RSS under load, MB | RssAnon under load, MB | USS under load, MB |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...sidecarRows.map((r) => `| ${r.join(' | ')} |`),
    '',
    '| goal | measured | met | missed by |',
    '| --- | --- | --- | --- |',
    ...goals.map((g) => `| ${g.goal} | ${g.measured} | ${g.met ? 'yes' : 'no'} | ${g.missedBy} |`),
  ].join('\n');
  return { markdown, goals };
}

export async function dataplaneBench(): Promise<DataplaneSummary> {
  const tools: Tools = { haproxy: which('haproxy'), nginx: which('nginx'), wrk: which('wrk') };
  const bare = await bareNodeRss();
  process.stdout.write(`${versionOf(tools.haproxy, ['-v'])}; ${versionOf(tools.nginx, ['-v'])}; ${versionOf(tools.wrk, ['-v'])}; node ${process.version}\n`);
  process.stdout.write(`upstream: nginx (1 worker) answering ${JSON.stringify(BODY)}; load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  process.stdout.write(`bare idle node process: RSS ${f1(bare.rssMb)} MB (private ${f1(bare.anonMb)} MB)\n`);
  const modes = pinModes();
  const rounds = new Map<PinMode, PathFigures[][]>(modes.map((m) => [m, []]));
  // Modes interleaved round by round, so that a drift in the machine's load hits both alike.
  for (let r = 0; r < REPEATS; r += 1) for (const mode of modes) rounds.get(mode)!.push(await round(r, tools, mode));
  pin(process.pid, `0-${availableParallelism() - 1}`);
  const summaries = modes.map((mode) => summarize(rounds.get(mode)!, mode));
  const summary: DataplaneSummary = { markdown: summaries.map((m) => m.markdown).join('\n\n'), goals: summaries.flatMap((m) => m.goals) };
  process.stdout.write(`\nload average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n${summary.markdown}\n`);
  return summary;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await dataplaneBench();
}
