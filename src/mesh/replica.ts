/**
 * One replica as `trellis up` sees it: a child process (src/mesh/replica-main.ts) running the
 * `trellis run` logic, in its own process group so it can be stopped — or killed — on its
 * own. Its output (already prefixed with the instance id) goes to the given streams.
 */
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, TrellisError } from '../errors.js';
import type { InstanceInfo, RunSpec } from '../run/types.js';
import { SIDECAR_V8_FLAGS } from '../proxy/v8-flags.js';
import { isFromReplica, type FromReplica, type ToReplica } from './replica-protocol.js';

const REPLICA_MAIN = fileURLToPath(new URL('./replica-main.js', import.meta.url));
/** Start-up beyond the app's ready timeout: node itself, the sidecar, registration. */
const START_MARGIN_MS = 15_000;

export interface ReplicaOptions {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly logLevel: string;
}

export interface Replica {
  readonly spec: RunSpec;
  /** The replica process (app and sidecar supervisor). */
  readonly pid: number;
  readonly info: InstanceInfo;
  /** The replica process's exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  running(): boolean;
  /** Drain and stop (SIGTERM); after `timeoutMs`, SIGKILL the replica and its app. */
  stop(timeoutMs: number): Promise<void>;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try { process.kill(-pid, signal); } catch { /* already gone */ }
}

export async function startReplica(spec: RunSpec, options: ReplicaOptions): Promise<Replica> {
  const child = spawn(process.execPath, [...SIDECAR_V8_FLAGS, REPLICA_MAIN], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], detached: true });
  child.stdout?.pipe(options.stdout, { end: false });
  child.stderr?.pipe(options.stderr, { end: false });
  let alive = true;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { alive = false; resolve(code); }));
  const pid = child.pid ?? 0;

  const answer = await new Promise<FromReplica>((resolve) => {
    const timer = setTimeout(() => resolve({ type: 'failed', message: `${spec.id}: no answer from the replica process within ${Math.round((spec.readyTimeoutMs + START_MARGIN_MS) / 1000)} s` }), spec.readyTimeoutMs + START_MARGIN_MS);
    child.on('message', (m: unknown) => { if (isFromReplica(m)) { clearTimeout(timer); resolve(m); } });
    void exited.then((code) => { clearTimeout(timer); resolve({ type: 'failed', message: `${spec.id}: the replica process exited (${code ?? 'signal'}) before it was ready` }); });
    const run: ToReplica = { type: 'run', spec, logLevel: options.logLevel };
    child.send(run);
  });
  if (answer.type === 'failed') {
    killGroup(pid, 'SIGKILL');
    await exited;
    throw new TrellisError(ErrorCodes.APP_UNAVAILABLE, answer.message);
  }
  const { info } = answer;
  child.channel?.unref();
  // A replica process gone by any means (kill -9 included) must not leave its app behind.
  void exited.then(() => killGroup(info.appPid, 'SIGKILL'));

  return {
    spec,
    pid,
    info,
    exited,
    running: () => alive,
    async stop(timeoutMs: number): Promise<void> {
      if (alive) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), timeoutMs);
        await exited;
        clearTimeout(timer);
      }
      // Whatever happened to the replica process, its app must not outlive it.
      killGroup(info.appPid, 'SIGKILL');
    },
  };
}
