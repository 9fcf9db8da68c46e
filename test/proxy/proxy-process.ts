/** `trellis proxy` as a real process: started from dist/, ready line parsed, killed in after(). */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseHostPort, type HostPort } from '../../src/util/host-port.js';
import { CLI } from '../helpers/processes.js';
import { tokenEnv } from '../helpers/tokens.js';

export interface ProxyProcess {
  readonly child: ChildProcess;
  readonly inbound: HostPort | undefined;
  readonly outbound: HostPort;
  readonly upstreams: Readonly<Record<string, HostPort>>;
  /** The admin listener (/status, /metrics, /ready). */
  readonly admin: HostPort;
  /** Every stdout/stderr line so far. */
  output(): string;
  /** Resident set size now and at its peak, in bytes (Linux /proc). */
  memory(): { rss: number; peak: number };
  /** Reset the peak to the current RSS (Linux clear_refs); false when not allowed. */
  resetPeak(): boolean;
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<number | string | null>;
  kill(signal?: NodeJS.Signals): Promise<number | string | null>;
}

interface ReadyLine { msg?: string; inbound?: string | null; outbound?: string; admin?: string; upstreams?: Record<string, string> }

const running = new Set<ChildProcess>();

export function killProxies(): void {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  running.clear();
}

function kib(status: string, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
}

/** `trellis proxy ARGS`, with a join token minted for its --service in TRELLIS_TOKEN (unless --mtls off), and `extraEnv`. */
export async function startProxy(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<ProxyProcess> {
  const env = { ...process.env, ...(await tokenEnv(args)), ...extraEnv };
  const child = spawn(process.execPath, [CLI, 'proxy', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  running.add(child);
  let output = '';
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => { running.delete(child); resolve(code ?? signal); }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`trellis proxy did not become ready in 45 s:\n${output}`)), 45_000);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`trellis proxy exited with ${String(code)}:\n${output}`)); });
    createInterface({ input: child.stdout }).on('line', (line) => {
      output += `${line}\n`;
      let parsed: ReadyLine;
      try { parsed = JSON.parse(line) as ReadyLine; } catch { return; }
      if (parsed.msg !== 'sidecar ready' || parsed.outbound === undefined || parsed.admin === undefined) return;
      clearTimeout(timer);
      resolve({
        child,
        inbound: parsed.inbound === null || parsed.inbound === undefined ? undefined : parseHostPort(parsed.inbound, 'inbound'),
        outbound: parseHostPort(parsed.outbound, 'outbound'),
        admin: parseHostPort(parsed.admin, 'admin'),
        upstreams: Object.fromEntries(Object.entries(parsed.upstreams ?? {}).map(([k, v]) => [k, parseHostPort(v, k)])),
        output: () => output,
        memory: () => {
          const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
          return { rss: kib(status, 'VmRSS'), peak: kib(status, 'VmHWM') };
        },
        resetPeak: () => {
          try {
            writeFileSync(`/proc/${child.pid}/clear_refs`, '5');
            return true;
          } catch {
            return false;
          }
        },
        exited,
        kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      });
    });
  });
}
