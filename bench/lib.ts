/** Shared pieces of the benchmarks: child processes, load loops, percentiles. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { FixedRateResult } from './fixed-rate.js';
import { SIDECAR_V8_FLAGS } from '../src/proxy/v8-flags.js';
import { track } from './proc.js';

const here = dirname(fileURLToPath(import.meta.url));
export const CLI = resolve(here, '../src/cli/main.js');
const fixedRateScript = resolve(here, 'fixed-rate.js');

export interface Child { url: string; child: ChildProcess; stop(): Promise<void> }

/** Start a process (with `env` added to ours) and wait for a stdout line that `ready` turns into a URL. */
export function startChild(args: string[], ready: (line: string) => string | undefined, env?: NodeJS.ProcessEnv): Promise<Child> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], ...(env === undefined ? {} : { env: { ...process.env, ...env } }) });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolvePromise, reject) => {
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const url = ready(line);
      if (url === undefined) return;
      // Ready: the rest of its stdout (an access log to stdout, say) is read and dropped unparsed, as a log collector would drain it.
      lines.close();
      child.stdout.resume();
      resolvePromise({ url, child, stop: async () => { child.kill('SIGKILL'); await exited; } });
    });
  });
}

/** What a `trellis proxy` says in its "sidecar ready" line. */
export interface SidecarReady { inbound: string | null; outbound: string; upstreams: Record<string, string> }

/** Start `trellis proxy ARGS` (with the sidecar's V8 flags, log level info, `env` added: its TRELLIS_TOKEN), tracked, once it says it is ready. */
export async function startSidecar(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ child: Child; ready: SidecarReady }> {
  const child = await startChild([...SIDECAR_V8_FLAGS, CLI, 'proxy', '--log-level', 'info', ...args], (line) => {
    try {
      return (JSON.parse(line) as { msg?: string }).msg === 'sidecar ready' ? line : undefined;
    } catch {
      return undefined;
    }
  }, env);
  track(child.child);
  return { child, ready: JSON.parse(child.url) as SidecarReady };
}

/** The fixed-rate generator's warm-up before it counts (s). */
export const FIXED_RATE_WARMUP_SECONDS = 1;

/** The open-loop generator (./fixed-rate.ts) in its own process; `onMeasuring` when its warm-up ends. */
export function runFixedRate(url: string, options: { rate: number; seconds: number; onMeasuring?: () => void }): Promise<FixedRateResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [fixedRateScript, url, `--rate=${options.rate}`, `--seconds=${options.seconds}`, `--warmup=${FIXED_RATE_WARMUP_SECONDS}`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    track(child);
    let result: FixedRateResult | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const parsed = JSON.parse(line) as { event?: string } & FixedRateResult;
      if (parsed.event === 'measuring') options.onMeasuring?.();
      else result = parsed;
    });
    child.once('exit', (code) => {
      if (code === 0 && result !== undefined) resolvePromise(result);
      else reject(new Error(`the fixed-rate generator exited with ${code}`));
    });
  });
}

/** Every API call needs a token: the admin token each control plane wrote in its data dir, by URL. */
const adminTokens = new Map<string, string>();

export function startControlPlane(dataDir: string, extraArgs: string[] = []): Promise<Child> {
  return startChild([CLI, 'server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--dns', 'off', '--log-level', 'info', ...extraArgs], (line) => {
    try {
      const parsed = JSON.parse(line) as { msg?: string; api?: string };
      if (parsed.msg !== 'control plane ready' || parsed.api === undefined) return undefined;
      adminTokens.set(parsed.api, readFileSync(join(dataDir, 'admin-token'), 'utf8').trim());
      return parsed.api;
    } catch { return undefined; }
  });
}

/** `Authorization` with the admin token of the control plane at `url` (started by startControlPlane). */
export function adminHeaders(url: string): Record<string, string> {
  const token = adminTokens.get(new URL(url).origin);
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** A join token for a sidecar of `service`, minted with the admin token. */
export async function mintToken(controlPlane: string, service: string): Promise<string> {
  const response = await fetch(`${controlPlane}/v1/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...adminHeaders(controlPlane) }, body: JSON.stringify({ service }),
  });
  return (await response.json() as { token: string }).token;
}

/** TRELLIS_TOKEN for a `trellis proxy` argument list or config naming its service and control plane. */
export async function sidecarEnv(controlPlane: string, service: string): Promise<NodeJS.ProcessEnv> {
  return { TRELLIS_TOKEN: await mintToken(controlPlane, service) };
}

/** Run `task(i)` for i in [0, total) with `concurrency` in flight; returns operations/s. */
export async function throughput(total: number, concurrency: number, task: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next;
      next += 1;
      if (i >= total) return;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return total / seconds;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return percentile(sorted, 50);
}

/**
 * CPU affinity with taskset: `pid` (every thread of it) to the CPUs in `cpus` ("1", "0,1").
 * Children started afterwards inherit the affinity of their parent.
 */
export function pin(pid: number, cpus: string): void {
  const out = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`taskset -a -p -c ${cpus} ${pid} failed: ${out.stderr ?? out.error?.message ?? ''}`);
}
