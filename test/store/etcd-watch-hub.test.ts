/** The etcd store's shared watch feeds: join with replay and no gap, buffer trimming by whole revisions, errors to every watcher. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Feed } from '../../src/store/etcd/watch-hub.js';
import type { WatchEvent } from '../../src/store/types.js';
import { Recorder } from './contract.js';

function event(revision: number, key = `/p/${revision}`): WatchEvent {
  return { type: 'put', key, revision, value: String(revision), lease: undefined, prevValue: undefined };
}

describe('etcd watch feed', () => {
  it('replays buffered events after the joiner’s revision, then delivers live ones, none twice', () => {
    const feed = new Feed('/p/', 10, () => undefined);
    for (const r of [11, 12, 13]) feed.onEvent(event(r));
    const late = new Recorder();
    feed.join(late, 12);
    const early = new Recorder();
    feed.join(early, 10);
    feed.onEvent(event(14));
    assert.deepEqual(late.revisions, [13, 14]);
    assert.deepEqual(early.revisions, [11, 12, 13, 14]);
  });

  it('lets a watcher from beyond what it delivered join, skipping what it already has', () => {
    const feed = new Feed('/p/', 10, () => undefined);
    feed.onEvent(event(11));
    const ahead = new Recorder();
    assert.ok(feed.covers(20));
    feed.join(ahead, 20);
    feed.onEvent(event(15)); // an event the watcher's revision already includes
    feed.onEvent(event(21));
    assert.deepEqual(ahead.revisions, [21]);
  });

  it('keeps the last 10,000 events, trimmed by whole revisions, and says which joiners it cannot serve', () => {
    const feed = new Feed('/p/', 0, () => undefined);
    for (let r = 1; r <= 25_000; r += 1) {
      feed.onEvent(event(r, `/p/a${r}`));
      feed.onEvent(event(r, `/p/b${r}`)); // two events per revision, as one transaction
    }
    assert.equal(feed.covers(0), false, 'the start was trimmed');
    const joiner = new Recorder();
    const oldest = [...Array(25_000).keys()].map((i) => i + 1).find((r) => feed.covers(r));
    assert.ok(oldest !== undefined && oldest > 1);
    feed.join(joiner, oldest);
    assert.equal(joiner.events.length % 2, 0, 'never half a revision');
    assert.deepEqual(joiner.events.at(-1)?.revision, 25_000);
    assert.equal(joiner.events[0]?.revision, oldest + 1);
  });

  it('ends every watcher with the feed’s error, once, and serves no one after', () => {
    let idle = 0;
    const feed = new Feed('/p/', 0, () => { idle += 1; });
    const a = new Recorder();
    const b = new Recorder();
    feed.join(a, 0);
    feed.join(b, 0);
    feed.onError(new Error('compacted'));
    feed.onError(new Error('again'));
    assert.deepEqual([a.errors.length, b.errors.length, idle], [1, 1, 1]);
    assert.equal(feed.covers(0), false);
  });

  it('a listener that throws disturbs neither the others nor its own later events', () => {
    const feed = new Feed('/p/', 0, () => undefined);
    const seen: number[] = [];
    feed.join({ onEvent(e) { seen.push(e.revision); throw new Error('listener failure (expected)'); }, onError() {} }, 0);
    const other = new Recorder();
    feed.join(other, 0);
    feed.onEvent(event(1));
    feed.onEvent(event(2));
    assert.deepEqual(seen, [1, 2]);
    assert.deepEqual(other.revisions, [1, 2]);
  });
});
