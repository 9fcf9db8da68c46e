/**
 * Before a sidecar starts (`trellis run`, `trellis proxy`): is the control plane there? Without
 * `--wait`, an unreachable one is one clear error naming the URL (exit 1) — never a silent exit.
 * With `--wait`, it is asked again with back-off (0.5 s doubling to 10 s), one line per try,
 * until it answers — as a Consul or Linkerd agent waits for its servers.
 * Only unreachability is waited for: any answer, even an error, means it is there.
 */
import { ControlPlaneClient } from '../client/control-plane.js';
import { ErrorCodes, TrellisError, isTrellisError, messageOf } from '../errors.js';
import { formatDuration } from '../util/duration.js';

export const WAIT_FIRST_MS = 500;
export const WAIT_MAX_MS = 10_000;

export interface ReachOptions {
  readonly controlPlaneCa?: string;
  /** Keep trying until it answers. */
  readonly wait: boolean;
  /** One line for the user (stderr). */
  readonly say: (line: string) => void;
  readonly signal?: AbortSignal;
}

function unreachable(err: unknown): boolean {
  return isTrellisError(err) && err.code === ErrorCodes.CONTROL_PLANE_UNREACHABLE;
}

/** Resolves once the control plane at `urls` answers; throws CONTROL_PLANE_UNREACHABLE without `wait`. */
export async function reachControlPlane(urls: string, options: ReachOptions): Promise<void> {
  const client = new ControlPlaneClient(urls.split(',').map((u) => u.trim()), undefined, options.controlPlaneCa === undefined ? undefined : { ca: options.controlPlaneCa });
  let delayMs = WAIT_FIRST_MS;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await client.status();
      if (attempt > 1) options.say(`the control plane at ${urls} answers; starting`);
      return;
    } catch (err) {
      if (!unreachable(err)) return;
      if (!options.wait) {
        throw new TrellisError(ErrorCodes.CONTROL_PLANE_UNREACHABLE,
          `${messageOf(err)}; or pass --wait to wait for it`, { cause: err });
      }
      options.say(`waiting for the control plane at ${urls} (try ${attempt}: not reachable); next try in ${formatDuration(delayMs)}`);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delayMs);
      options.signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
    });
    if (options.signal?.aborted) throw new TrellisError(ErrorCodes.CONTROL_PLANE_UNREACHABLE, `stopped while waiting for the control plane at ${urls}`);
    delayMs = Math.min(WAIT_MAX_MS, delayMs * 2);
  }
}
