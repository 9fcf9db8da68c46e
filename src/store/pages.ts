/**
 * Walking every key of a prefix without blocking: a page at a time, with a turn of the event
 * loop (setImmediate) between pages so that other requests are served meanwhile.
 */
import type { KeyValue, KvStore } from './types.js';

/** Keys per page of a walk. */
export const WALK_PAGE = 1_000;

export interface WalkPage {
  kvs: KeyValue[];
  /** The store's revision at the first page: watch after it to see every later change. */
  firstRevision: number;
}

export async function* walkPrefix(store: KvStore, prefix: string, pageSize = WALK_PAGE): AsyncGenerator<WalkPage> {
  let firstRevision: number | undefined;
  let after: string | undefined;
  for (;;) {
    const page = await store.range(prefix, { limit: pageSize, ...(after === undefined ? {} : { after }) });
    firstRevision ??= page.revision;
    yield { kvs: page.kvs, firstRevision };
    if (!page.more) return;
    after = page.kvs[page.kvs.length - 1]?.key;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
