/**
 * Transient etcd failures (a leader election, a member that just died) are retried with a short
 * back-off within a time budget; what is still failing then is reported, never hung on.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isTransient } from './errors.js';

export async function withRetry<T>(budgetMs: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + budgetMs;
  let delay = 25;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (!isTransient(err) || Date.now() + delay > deadline) throw err;
      await sleep(delay);
      delay = Math.min(delay * 2, 400);
    }
  }
}
