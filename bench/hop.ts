/**
 * One Trellis hop under wrk, for profiling and quick A/B runs (not part of `make bench`):
 * nginx answering "Hello, World!" and a control plane, then one sidecar — `outbound` (its
 * per-upstream port → nginx registered as an instance), `inbound` (its inbound listener →
 * nginx as its app) or `pair` (outbound → a peer sidecar → nginx) — loaded by wrk (one
 * thread, 50 connections). Prints the sidecars' CPU per request (from /proc) per run and
 * their RSS / USS idle. The sidecars are pinned to CPU 1, the rest to CPU 0, when taskset is there.
 *
 *     node dist/bench/hop.js outbound [runs=3] [seconds=4] [-- extra node flags for the sidecars, e.g. --cpu-prof]
 *
 * HOP_PERF=FILE records the first run with `perf record -g` into FILE (give the sidecars
 * `--perf-basic-prof` among the extra flags for JavaScript names).
 * With `--cpu-prof` among the extra flags the profile lands in the sidecar's working directory
 * (HOP_PROF_DIR, default /tmp) when it is stopped (SIGINT, so that V8 writes it).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startUpstreamAndControlPlane, type Tools } from './dataplane.js';
import { adminHeaders, CLI, pin, sidecarEnv, startChild, type Child, type SidecarReady } from './lib.js';
import { SIDECAR_V8_FLAGS } from '../src/proxy/v8-flags.js';
import { memoryOf, privateMemoryOf, runWrk, track, waitForOk, which } from './proc.js';

const dash = process.argv.indexOf('--');
const args = dash === -1 ? process.argv.slice(2) : process.argv.slice(2, dash);
const extraFlags = dash === -1 ? [] : process.argv.slice(dash + 1);
const mode = args[0] ?? 'outbound';
const runs = Number(args[1] ?? 3);
const seconds = Number(args[2] ?? 4);
const canPin = availableParallelism() >= 2 && (() => { try { which('taskset'); return true; } catch { return false; } })();

async function sidecar(controlPlane: string, service: string, extra: string[]): Promise<{ child: Child; ready: SidecarReady }> {
  const child = await startChild([...SIDECAR_V8_FLAGS, ...extraFlags, CLI, 'proxy', '--log-level', 'info', '--mtls', process.env['HOP_MTLS'] ?? 'off',
    '--service', service, '--control-plane', controlPlane, ...extra], (line) => {
    try {
      return (JSON.parse(line) as { msg?: string }).msg === 'sidecar ready' ? line : undefined;
    } catch {
      return undefined;
    }
  }, await sidecarEnv(controlPlane, service));
  track(child.child);
  return { child, ready: JSON.parse(child.url) as SidecarReady };
}

const stopGently = async (child: Child): Promise<void> => {
  const exited = new Promise<void>((r) => child.child.once('exit', () => r()));
  child.child.kill('SIGINT');
  const timer = setTimeout(() => child.child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
};

/** [user, system] CPU seconds of `pid` (/proc/PID/stat utime, stime). */
function cpuOf(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]) / 100, Number(fields[12]) / 100];
}

const tools: Tools = { haproxy: '', nginx: which('nginx'), wrk: which('wrk') };
const dir = mkdtempSync(join(tmpdir(), 'trellis-hop-'));
const stops: Array<() => Promise<void>> = [];
if (canPin) pin(process.pid, '0');
process.chdir(process.env['HOP_PROF_DIR'] ?? tmpdir());
try {
  const { upstreamPort, cp } = await startUpstreamAndControlPlane(dir, tools, stops);
  const registered = await request(`${cp.url}/v1/services/hello-direct/instances/upstream-1`, {
    method: 'PUT', body: JSON.stringify({ address: '127.0.0.1', port: upstreamPort }), headers: { 'content-type': 'application/json', ...adminHeaders(cp.url) },
  });
  await registered.body.dump();
  const sidecars: Child[] = [];
  const readies: Array<SidecarReady & { admin?: string }> = [];
  let url: string;
  if (mode === 'inbound') {
    const s = await sidecar(cp.url, 'hello-in', ['--id', 'hello-in-1', '--app-port', String(upstreamPort)]);
    sidecars.push(s.child);
    url = `http://${s.ready.inbound}/`;
  } else if (mode === 'pair') {
    const server = await sidecar(cp.url, 'hello', ['--id', 'hello-1', '--app-port', String(upstreamPort)]);
    readies.push(server.ready);
    sidecars.push(server.child);
    const client = await sidecar(cp.url, 'bench-client', ['--id', 'bench-client-1', '--upstream', 'hello:0']);
    sidecars.unshift(client.child);
    url = `http://${client.ready.upstreams['hello']}/`;
  } else {
    const s = await sidecar(cp.url, 'bench-client', ['--id', 'bench-client-1', '--upstream', 'hello-direct:0']);
    sidecars.push(s.child);
    url = `http://${s.ready.upstreams['hello-direct']}/`;
  }
  await waitForOk(url);
  const pids = sidecars.map((s) => s.child.pid!);
  if (canPin) for (const pid of pids) pin(pid, '1');
  await new Promise((r) => setTimeout(r, 500));
  process.stdout.write(`${mode}: idle ${pids.map((pid) => `RSS ${memoryOf(pid).rssMb.toFixed(1)} MB USS ${privateMemoryOf(pid).toFixed(1)} MB`).join(' / ')}; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  await runWrk(tools.wrk, url, 50, 2);
  for (let i = 0; i < runs; i++) {
    const before = pids.map(cpuOf);
    const perf = process.env['HOP_PERF'] === undefined || i > 0 ? undefined
      : spawn('perf', ['record', '-F', '1999', '-g', '-o', process.env['HOP_PERF'], '-p', pids.join(','), '--', 'sleep', String(seconds - 1)], { stdio: 'ignore' });
    const result = await runWrk(tools.wrk, url, 50, seconds);
    if (perf !== undefined && perf.exitCode === null) await new Promise((r) => perf.once('exit', r));
    const after = pids.map(cpuOf);
    const us = (j: number, k: number): number => ((after[j][k] - before[j][k]) * 1e6) / Math.max(1, result.requests);
    const perRequest = pids.map((_, j) => `${(us(j, 0) + us(j, 1)).toFixed(1)} (user ${us(j, 0).toFixed(1)}, sys ${us(j, 1).toFixed(1)})`);
    process.stdout.write(`${mode} run ${i + 1}: ${result.requestsPerSec.toFixed(0)} req/s, ${result.errors} errors, CPU ${perRequest.join(' / ')} µs/req\n`);
  }
  process.stdout.write(`${mode}: after load ${pids.map((pid) => `RSS ${memoryOf(pid).rssMb.toFixed(1)} MB USS ${privateMemoryOf(pid).toFixed(1)} MB`).join(' / ')}\n`);
  // With mTLS: how many handshakes the runs took (a pool that keeps its connections: about one per wrk connection).
  for (const s of readies) {
    if (s.admin === undefined) continue;
    const status = await request(`http://${s.admin}/status`, { headers: adminHeaders(cp.url) });
    const body = await status.body.json() as { mtls?: { inboundHandshakes?: number } };
    if (body.mtls?.inboundHandshakes !== undefined) process.stdout.write(`${mode}: ${body.mtls.inboundHandshakes} inbound TLS handshakes in all\n`);
  }
  for (const s of sidecars) await stopGently(s);
} finally {
  for (const stop of stops.reverse()) await stop();
  rmSync(dir, { recursive: true, force: true });
}
