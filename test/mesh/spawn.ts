/** A long-running CLI process whose output the test follows line by line. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CLI, cliTokenEnv } from '../helpers/processes.js';
import type { MeshSummary } from '../../src/mesh/summary.js';
import { rememberServer } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

export interface CliProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** stdout and stderr lines so far. */
  readonly lines: string[];
  output(): string;
  /** The first line matching, waiting up to timeoutMs. */
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** The exit code (128 + n for signal n). */
  readonly exited: Promise<number | null>;
}

const started = new Set<ChildProcess>();

export function spawnCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd, env: { ...process.env, ...cliTokenEnv(args, options.env ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  createInterface({ input: child.stderr }).on('line', (l) => lines.push(l));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    pid: child.pid ?? 0,
    lines,
    output: () => lines.join('\n'),
    line: (pattern, timeoutMs = 45_000) => waitFor(() => `a line matching ${pattern}; output so far:\n${lines.join('\n')}\n`, () => lines.find((l) => pattern.test(l)), { timeoutMs }),
    exited,
  };
}

/**
 * The summary `trellis up --json` prints once the mesh runs; the control plane's data dir (from
 * its "control-plane" line) is remembered, so that the helpers send its admin token.
 */
export async function meshSummary(up: CliProcess, timeoutMs = 60_000): Promise<MeshSummary> {
  const started = JSON.parse(await up.line(/"kind":"control-plane"/, timeoutMs)) as { url: string; dataDir: string };
  rememberServer(started.url, started.dataDir, started.dataDir);
  return JSON.parse(await up.line(/"kind":"summary"/, timeoutMs)) as MeshSummary;
}

/** SIGKILL every process spawned here that is still running, and the extra pids given (call from after()). */
export function killSpawned(extraPids: readonly number[] = []): void {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  started.clear();
  for (const pid of extraPids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
