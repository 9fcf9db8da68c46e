/**
 * The app must not outlive `trellis run` (or a replica of `trellis up`), however that ends —
 * kill -9 included, where no handler of ours runs. A watchdog process, a few hundred KB of
 * `/bin/sh` in a session of its own (a terminal's Ctrl-C does not reach it), reads a pipe
 * whose only writer is this process: when this process is gone, the kernel closes the pipe,
 * the read ends, and the watchdog sends SIGTERM to the app's process group, SIGKILL 300 ms later.
 * Disarmed (it is told "done" and exits) once the app has exited.
 *
 * Node cannot set PR_SET_PDEATHSIG or hold a pidfd for a child; a pipe's end-of-file is the
 * portable signal of a parent's death.
 */
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';

/** How long the app gets after SIGTERM once its supervisor is gone (nobody drains it any more). */
export const ORPHAN_GRACE_MS = 300;

const SCRIPT = `read -r line; [ "$line" = done ] && exit 0; kill -TERM -"$1" 2>/dev/null; sleep ${ORPHAN_GRACE_MS / 1000}; kill -KILL -"$1" 2>/dev/null; exit 0`;

export interface Watchdog {
  /** The app exited by itself or was stopped: the watchdog exits without killing anything. */
  disarm(): void;
}

/** Watch over the process group `pgid` (the app's pid: it leads its own group). */
export function startWatchdog(pgid: number): Watchdog {
  const child = spawn('/bin/sh', ['-c', SCRIPT, 'trellis-watchdog', String(pgid)], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  child.on('error', () => undefined);
  const pipe = child.stdin as (Socket & NodeJS.WritableStream) | null;
  pipe?.on('error', () => undefined);
  // Neither keeps `trellis run` alive.
  child.unref();
  pipe?.unref();
  let armed = true;
  return {
    disarm() {
      if (!armed) return;
      armed = false;
      pipe?.end('done\n');
    },
  };
}
