/**
 * The application process of an instance. It runs in its own process group, so a
 * terminal's Ctrl-C reaches `trellis run` only, which drains the sidecar before it stops
 * the app (SIGTERM to the group, SIGKILL after a grace period). A watchdog (./watchdog.ts)
 * kills the group if `trellis run` itself dies first, by any means. Its output is passed
 * through, each line prefixed when a prefix is given.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Writable } from 'node:stream';
import { messageOf } from '../errors.js';
import { pipeWithPrefix } from './line-prefix.js';
import { startWatchdog } from './watchdog.js';

/** How long output may still arrive after the process exited. */
const FLUSH_TIMEOUT_MS = 500;

export interface AppExit {
  /** Exit status, or null when a signal ended it. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the command could not be started at all (ENOENT, EACCES). */
  readonly error?: string;
}

export interface AppOutput {
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Prefix for every line (`[my-service-1] `), or undefined to pass bytes through untouched. */
  readonly prefix?: string;
}

export interface AppOptions {
  readonly command: readonly string[];
  readonly cwd?: string;
  readonly env: NodeJS.ProcessEnv;
  readonly output: AppOutput;
}

export interface AppProcess {
  /** Undefined when the command could not be started. */
  readonly pid: number | undefined;
  /** Settles once the process has exited and its output is flushed; never rejects. */
  readonly exited: Promise<AppExit>;
  /** SIGTERM to its process group, SIGKILL after `graceMs`; resolves with the exit. */
  stop(graceMs: number): Promise<AppExit>;
}

/** The shell's convention: the exit status, 128 + signal number, or 127 when it never started. */
export function exitCodeOf(exit: AppExit): number {
  if (exit.code !== null) return exit.code;
  if (exit.signal !== null) return 128 + (constants.signals[exit.signal] ?? 0);
  return 127;
}

/** "exited with code 3", "was killed by SIGKILL", "could not be started: spawn nodex ENOENT". */
export function describeExit(exit: AppExit): string {
  if (exit.error !== undefined) return `could not be started: ${exit.error}`;
  if (exit.signal !== null) return `was killed by ${exit.signal}`;
  return `exited with code ${exit.code ?? 'unknown'}`;
}

export function startApp(options: AppOptions): AppProcess {
  const [program, ...args] = options.command;
  if (program === undefined) throw new Error('startApp: the command is empty');
  const prefixed = options.output.prefix !== undefined;
  const child = spawn(program, args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', prefixed ? 'pipe' : 'inherit', prefixed ? 'pipe' : 'inherit'],
  });
  const watchdog = child.pid === undefined ? undefined : startWatchdog(child.pid);
  const flushed: Array<Promise<void>> = [];
  if (prefixed && child.stdout !== null && child.stderr !== null) {
    const prefix = options.output.prefix ?? '';
    flushed.push(pipeWithPrefix(child.stdout, options.output.stdout, prefix));
    flushed.push(pipeWithPrefix(child.stderr, options.output.stderr, prefix));
  }
  let settled = false;
  const exited = new Promise<AppExit>((resolve) => {
    child.once('error', (err) => {
      // 'error' without a pid means the spawn itself failed; no 'exit' follows.
      if (child.pid === undefined) { settled = true; resolve({ code: null, signal: null, error: messageOf(err) }); }
    });
    child.once('exit', (code, signal) => {
      settled = true;
      watchdog?.disarm();
      // A grandchild may hold the pipes open: wait for the output a little, not forever.
      const flushTimeout = new Promise<void>((r) => setTimeout(r, FLUSH_TIMEOUT_MS).unref());
      void Promise.race([Promise.all(flushed), flushTimeout]).then(() => resolve({ code, signal }));
    });
  });

  const signalGroup = (signal: NodeJS.Signals): void => {
    if (settled || child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      child.kill(signal);
    }
  };

  return {
    pid: child.pid,
    exited,
    async stop(graceMs: number): Promise<AppExit> {
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
