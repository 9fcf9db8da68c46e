/**
 * Benchmark plumbing for processes that are not ours to import: spawning external
 * servers (nginx, HAProxy) and keeping track of every child so that none outlives the
 * run, reading a process's memory and CPU from /proc, running wrk and parsing its report.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { request } from 'undici';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Remember a child so that it is killed if the benchmark exits without stopping it. */
export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** Kill a child (SIGKILL) and wait until it has exited. */
export async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

/** The path of a command: on PATH, or in /usr/sbin and /sbin (not on a normal user's PATH). */
export function which(command: string): string {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const path = join(dir, command);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch { /* next */ }
  }
  throw new Error(`${command} is not installed: run \`make bench\` (it installs the Debian packages, as root) or apt-get install ${command}`);
}

/** The first line of a command's version output (nginx prints it on stderr). */
export function versionOf(command: string, args: string[]): string {
  const out = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return `${out.stdout ?? ''}${out.stderr ?? ''}`.split('\n')[0]?.trim() ?? '';
}

export interface Server {
  readonly child: ChildProcess;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Start a long-running server process (its stderr kept for the error if it dies early). */
export function startServer(command: string, args: string[]): Server {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  track(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000); });
  child.once('exit', (code, signal) => {
    if (signal !== 'SIGKILL') process.stderr.write(`bench: ${command} exited (${code ?? signal}): ${stderr}\n`);
  });
  if (child.pid === undefined) throw new Error(`cannot start ${command}`);
  return { child, pid: child.pid, stop: () => kill(child) };
}

/** Wait until GET url answers 2xx (the server is up and routes). */
export async function waitForOk(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const res = await request(url, { headersTimeout: 2_000, bodyTimeout: 2_000 });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) return;
      last = `status ${res.statusCode}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 2xx within ${timeoutMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Memory {
  /** VmRSS: resident memory, including the mapped executable and libraries (the goal's measure). */
  rssMb: number;
  /** RssAnon: private (heap, stacks, buffers) — without the file-backed pages every node process shares. */
  anonMb: number;
}

function statusField(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
  return match === null ? Number.NaN : Number(match[1]) / 1024;
}

export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rssMb: statusField(status, 'VmRSS'), anonMb: statusField(status, 'RssAnon') };
}

const CLOCK_TICKS = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds the process has used (utime + stime of /proc/PID/stat). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ", fields[0] is the state (field 3): utime is field 14, stime 15.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Private memory (USS: Private_Clean + Private_Dirty of /proc/PID/smaps_rollup), MB. */
export function privateMemoryOf(pid: number): number {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  let kb = 0;
  for (const field of ['Private_Clean', 'Private_Dirty']) {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup);
    if (match !== null) kb += Number(match[1]);
  }
  return kb / 1024;
}

/**
 * Samples some processes while a load runs, every `everyMs` until stop(): the peak of each figure
 * `read` gives, starting from `zero` (what stays when a process had exited before any reading).
 */
export class PeakSampler<K extends string> {
  readonly #pids: readonly number[];
  readonly #read: (pid: number) => Record<K, number>;
  readonly #keys: readonly K[];
  readonly #peak: Array<Record<K, number>>;
  readonly #timer: NodeJS.Timeout;

  constructor(pids: readonly number[], read: (pid: number) => Record<K, number>, zero: Record<K, number>, everyMs = 100) {
    this.#pids = pids;
    this.#read = read;
    this.#keys = Object.keys(zero) as K[];
    this.#peak = pids.map(() => ({ ...zero }));
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), everyMs);
  }

  #sample(): void {
    this.#pids.forEach((pid, i) => {
      try {
        const now = this.#read(pid);
        const peak = this.#peak[i];
        if (peak !== undefined) for (const key of this.#keys) peak[key] = Math.max(peak[key], now[key]);
      } catch { /* exited */ }
    });
  }

  stop(): Array<Record<K, number>> {
    clearInterval(this.#timer);
    this.#sample();
    return this.#peak;
  }
}

/** The peak memory (RSS, RssAnon) of some processes while a load runs. */
export class MemorySampler extends PeakSampler<keyof Memory> {
  constructor(pids: readonly number[], everyMs = 100) {
    super(pids, memoryOf, { rssMb: 0, anonMb: 0 }, everyMs);
  }
}

export interface WrkResult {
  requestsPerSec: number;
  requests: number;
  /** wrk's own (closed-loop) latency distribution at saturation. */
  p50Ms: number;
  p99Ms: number;
  /** Socket errors plus non-2xx/3xx answers. */
  errors: number;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  switch (unit) {
    case 'us': return n / 1000;
    case 'ms': return n;
    case 's': return n * 1000;
    case 'm': return n * 60_000;
    default: return Number.NaN;
  }
}

export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in/.exec(out);
  const p = (q: string): number => {
    const m = new RegExp(`^\\s+${q}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m === null ? Number.NaN : toMs(m[1], m[2]);
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (rps === null || total === null) throw new Error(`cannot read wrk's report:\n${out}`);
  const socketErrors = socket === null ? 0 : socket.slice(1).reduce((n, v) => n + Number(v), 0);
  return {
    requestsPerSec: Number(rps[1]),
    requests: Number(total[1]),
    p50Ms: p('50'),
    p99Ms: p('99'),
    errors: socketErrors + (non2xx === null ? 0 : Number(non2xx[1])),
  };
}

/** wrk with one thread and a fixed number of connections, for `seconds`. */
export function runWrk(wrk: string, url: string, connections: number, seconds: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(wrk, ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) {
        reject(new Error(`wrk exited with ${code}: ${out}`));
        return;
      }
      try {
        resolve(parseWrk(out));
      } catch (err) {
        reject(err);
      }
    });
  });
}
