/**
 * The xDS tests' processes: the fixtures of test/control-plane/fixtures (proxyless gRPC
 * servers and clients) spawned with their output kept line by line, and the clients' call
 * lines read back. Every process spawned here is killed by killXdsProcs() (in after()).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../control-plane/fixtures');

export interface Call { at: number; id: string | null; code: number; details?: string; peer?: string }

export interface Proc { child: ChildProcess; lines: string[] }

const procs: Proc[] = [];

export function spawnFixture(file: string, env: NodeJS.ProcessEnv): Proc {
  return spawnNode([join(FIXTURES, file)], env);
}

/** A node process (a fixture, or the CLI: `[CLI, 'identity', …]`) with its output kept, killed by killXdsProcs(). */
export function spawnNode(args: readonly string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc: Proc = { child, lines: [] };
  createInterface({ input: child.stdout }).on('line', (line) => proc.lines.push(line));
  child.stderr.on('data', (d: Buffer) => { proc.lines.push(`stderr: ${d.toString().trim()}`); });
  procs.push(proc);
  return proc;
}

export function killXdsProcs(): void {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
}

/** The calls a client fixture printed that started at or after `since`. */
export function calls(proc: Proc, since = 0): Call[] {
  return proc.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Call).filter((c) => c.at >= since);
}

/** Calls counted by the instance that answered (or the failure), for assertion messages. */
export function describeCalls(list: readonly Call[]): string {
  const by = new Map<string, number>();
  for (const c of list) {
    const key = c.id ?? `failed(${c.code}: ${c.details ?? ''})`;
    by.set(key, (by.get(key) ?? 0) + 1);
  }
  return JSON.stringify(Object.fromEntries(by));
}
