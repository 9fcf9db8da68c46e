/**
 * Wait until a freshly started app is ready: its health path answers 2xx (or, without
 * one, its port accepts a connection). The same probes as the control plane's active
 * checks — and the answer must come from the app: the listener on the port has to belong to
 * the app's process tree (src/run/listener-owner.ts), so a port held by someone else (a first
 * copy of the app, another program) never makes it "ready". An app that exits first is an answer, not an error (a one-shot job may finish
 * before it ever listens): its exit is returned. Fails with a clear error when the
 * deadline passes or the caller gives up (signal).
 */
import { probeFor } from '../health/checks/registry.js';
import type { ActiveCheckSpec } from '../core/health.js';
import { ErrorCodes, TrellisError } from '../errors.js';
import { formatDuration } from '../util/duration.js';
import type { AppExit } from './app-process.js';
import { describeHolder, listenerOwner } from './listener-owner.js';

export interface ReadinessOptions {
  readonly host: string;
  readonly port: number;
  /** An HTTP path answering 2xx when ready; without it, a TCP connect is enough. */
  readonly healthPath?: string;
  readonly timeoutMs: number;
  /** Time between probes. */
  readonly everyMs?: number;
  /** Names the app in messages (`my-service-1`). */
  readonly name: string;
  readonly exited: Promise<AppExit>;
  readonly signal?: AbortSignal;
  /** The app's pid: the listener must be its own (or a descendant's). Without it, any answer counts. */
  readonly appPid?: number;
}

const PROBE_TIMEOUT_MS = 1_000;

/** The check a freshly started app must pass (also what `up` probes for liveness). */
export function readinessCheck(healthPath: string | undefined): ActiveCheckSpec {
  const common = {
    intervalMs: PROBE_TIMEOUT_MS,
    timeoutMs: PROBE_TIMEOUT_MS,
    failuresBeforeCritical: 1,
    successesBeforePassing: 1,
    initialStatus: 'critical',
  } as const;
  return healthPath === undefined
    ? { type: 'tcp', ...common }
    : { type: 'http', path: healthPath, method: 'GET', ...common };
}

/** Resolves undefined once ready, or with the app's exit when it exited first. */
export async function waitUntilReady(options: ReadinessOptions): Promise<AppExit | undefined> {
  const probe = probeFor(readinessCheck(options.healthPath));
  const what = options.healthPath === undefined
    ? `port ${options.port} to accept connections`
    : `GET ${options.healthPath} on port ${options.port} to answer 2xx`;
  let exit: AppExit | undefined;
  void options.exited.then((e) => { exit = e; });
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const deadline = Date.now() + options.timeoutMs;
  let lastOutput = 'no probe finished';
  try {
    for (;;) {
      if (exit !== undefined) return exit;
      if (stop.signal.aborted) {
        throw new TrellisError(ErrorCodes.APP_UNAVAILABLE, `${options.name}: stopped before the app was ready`);
      }
      if (Date.now() > deadline) {
        throw new TrellisError(ErrorCodes.APP_UNAVAILABLE,
          `${options.name}: the app was not ready within ${formatDuration(options.timeoutMs)} (waited for ${what}; last probe: ${lastOutput}) — does it listen on $PORT? raise the ready timeout if it starts slowly`);
      }
      const result = await probe({ address: options.host, port: options.port }, stop.signal);
      const owner = result.status === 'passing' && options.appPid !== undefined ? listenerOwner(options.appPid, options.port) : undefined;
      if (result.status === 'passing' && (owner === undefined || owner.kind === 'app' || owner.kind === 'unknown')) return undefined;
      lastOutput = owner?.kind === 'other'
        ? `port ${options.port} answers, but its listener is not the app's: it is held by ${describeHolder(owner)}`
        : owner?.kind === 'none' ? `port ${options.port} answers, but the app has no listener on it` : result.output;
      await Promise.race([
        new Promise((r) => setTimeout(r, options.everyMs ?? 100)),
        options.exited,
      ]);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

export interface RegistrationWait {
  readonly registered: () => boolean;
  readonly deadline: number;
  readonly exited: Promise<AppExit>;
  readonly signal?: AbortSignal;
  readonly name: string;
}

/**
 * After the app is ready, wait for its sidecar to register it (the sidecar checks the app
 * itself first). Resolves true once registered, false when the deadline passes first (the
 * sidecar keeps trying), or with the app's exit if it exited meanwhile.
 */
export async function waitUntilRegistered(options: RegistrationWait): Promise<boolean | AppExit> {
  let exit: AppExit | undefined;
  void options.exited.then((e) => { exit = e; });
  for (;;) {
    if (options.registered()) return true;
    if (exit !== undefined) return exit;
    if (options.signal?.aborted) throw new TrellisError(ErrorCodes.APP_UNAVAILABLE, `${options.name}: stopped before it was registered`);
    if (Date.now() > options.deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}
