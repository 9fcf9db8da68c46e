/**
 * etcd does not report its compact revision in any status call, so it is learnt the way a
 * client meets it: a read at revision r fails with "compacted" exactly when r is below it.
 * The last known value is kept; one read confirms it (compaction only moves forward), and a
 * binary search finds the new one after someone (another replica, etcd's auto-compaction)
 * compacted. Reported as the embedded store does: history at or below it is gone.
 */
import type { Etcd3 } from 'etcd3';
import { isCompactedError } from './errors.js';

export class CompactionTracker {
  readonly #client: Etcd3;
  readonly #probeKey: Buffer;
  /** The lowest revision a read still works at (1 = nothing compacted). */
  #lowest = 1;

  constructor(client: Etcd3, probeKey: Buffer) {
    this.#client = client;
    this.#probeKey = probeKey;
  }

  /** Revision of the last compaction (0 = none); `current` is the store's revision now. */
  async compactRevision(current: number): Promise<number> {
    if (!await this.#readable(this.#lowest)) {
      let low = this.#lowest; // not readable
      let high = Math.max(current, low + 1); // readable: compaction never passes the current revision
      while (high - low > 1) {
        const mid = Math.floor((low + high) / 2);
        if (await this.#readable(mid)) high = mid; else low = mid;
      }
      this.#lowest = high;
    }
    return this.#lowest <= 1 ? 0 : this.#lowest;
  }

  /** We compacted to `revision` ourselves. */
  compacted(revision: number): void {
    this.#lowest = Math.max(this.#lowest, revision);
  }

  async #readable(revision: number): Promise<boolean> {
    try {
      await this.#client.kv.range({ key: this.#probeKey, revision, count_only: true });
      return true;
    } catch (err) {
      if (isCompactedError(err)) return false;
      throw err;
    }
  }
}
