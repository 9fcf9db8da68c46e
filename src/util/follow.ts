/**
 * Keep a watch alive: start it, and whenever it fails (store hiccup, compaction while
 * catching up) start it again after a delay — each start re-reads the state it needs,
 * so nothing is missed. Shared by every control-plane task that follows the store.
 */
import type { Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../core/clock.js';
import { messageOf } from '../errors.js';

export interface Follower {
  close(): void;
}

/** What `start` opens: a store watch (src/store's Watcher), or anything else that closes. */
export interface Watcher {
  close(): void;
}

/** `start` opens the watch; it must call `fail` when the watch ends abnormally. */
export type StartWatch = (fail: (err: Error) => void) => Promise<Watcher>;

export async function follow(name: string, logger: Logger, start: StartWatch, restartDelayMs = 1_000, clock: Clock = systemClock): Promise<Follower> {
  let watcher: Watcher | undefined;
  let closed = false;
  let timer: Timer | undefined;

  const schedule = (): void => {
    if (closed) return;
    timer = clock.setTimeout(() => { void run(); }, restartDelayMs);
  };
  const fail = (err: Error): void => {
    if (closed) return;
    logger.warn({ task: name, err: messageOf(err) }, 'watch failed; restarting it');
    watcher?.close();
    schedule();
  };
  const run = async (): Promise<void> => {
    if (closed) return;
    try {
      watcher = await start(fail);
    } catch (err) {
      logger.warn({ task: name, err: messageOf(err) }, 'could not start watch; retrying');
      schedule();
    }
  };

  // The first start must succeed: a control plane that cannot follow its store should not start.
  watcher = await start(fail);
  return {
    close() {
      closed = true;
      timer?.cancel();
      watcher?.close();
    },
  };
}
