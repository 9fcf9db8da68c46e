/** Waiting for the first policy read, bounded by a deadline and the request's cancellation. */
import type { CancelSignal } from '../cancel.js';
import type { AuthorizationTable } from './table.js';

/** How long a request that arrives before the first policy read waits for it. */
export const POLICY_WAIT_MS = 10_000;

/** Resolves true once `table` is ready, false when `waitMs` passes or `signal` aborts first. */
export function whenReady(table: AuthorizationTable, waitMs: number, signal?: CancelSignal): Promise<boolean> {
  if (table.ready) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(ready);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(table.ready), waitMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    void table.synced.then(() => done(true));
  });
}
