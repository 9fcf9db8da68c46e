/**
 * A replica's restart policy, as a Deployment's pods have one: `always` (the default),
 * `on-failure` (a non-zero exit or a signal) or `never`. Restarts back off: 1 s, doubling
 * to 30 s; a replica that ran for a minute starts from 1 s again (Kubernetes's CrashLoopBackOff,
 * shorter).
 */
import type { RestartPolicy } from './schema.js';

export const RESTART_BACKOFF = Object.freeze({ initialMs: 1_000, maxMs: 30_000, resetAfterMs: 60_000 });

/** Whether a replica that exited with `code` (null: killed by a signal) starts again. */
export function shouldRestart(policy: RestartPolicy, code: number | null): boolean {
  if (policy === 'always') return true;
  if (policy === 'on-failure') return code !== 0;
  return false;
}

/** The delay before each restart of one replica. */
export class RestartBackoff {
  private nextMs: number = RESTART_BACKOFF.initialMs;
  private restartCount = 0;

  constructor(private readonly limits: typeof RESTART_BACKOFF = RESTART_BACKOFF) {}

  /** The delay before the next restart, given how long the replica ran (ms; 0 when it never got ready). */
  next(ranMs: number): number {
    if (ranMs >= this.limits.resetAfterMs) this.nextMs = this.limits.initialMs;
    const delay = this.nextMs;
    this.nextMs = Math.min(this.nextMs * 2, this.limits.maxMs);
    this.restartCount += 1;
    return delay;
  }

  /** Restarts so far. */
  get restarts(): number {
    return this.restartCount;
  }
}
