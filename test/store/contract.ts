/**
 * The KvStore contract: every backend runs this suite unchanged.
 *
 *   storeContract('sqlite', async () => { const store = await open…; return { store, close } });
 *
 * `open` must return a store with no keys under `/contract/` and no history there that
 * matters; suites that need exact counts (status, compaction, close) open a store of their own.
 * Only observable behaviour through the KvStore interface is tested here; nothing backend-specific.
 * A store of its own may still share the revision counter, leases and compaction with others (etcd:
 * stores in separate namespaces of one cluster), so tests compare before/after and watch from a
 * revision they read, and a lease TTL may be rounded up to the backend's granularity.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ErrorCode, ErrorCodes, TrellisError } from '../../src/errors.js';
import type { KvStore, WatchEvent, WatchListener, Watcher } from '../../src/store/types.js';
import { waitFor } from '../helpers/wait.js';

export interface OpenedStore {
  store: KvStore;
  /** Close the store (if the test did not) and remove whatever `open` created. */
  close(): Promise<void>;
}

export type OpenStore = () => Promise<OpenedStore>;

/** TTL for lease tests: short, so the suite stays fast. */
const TTL_MS = 300;

/** A watch listener that records everything it is given. */
export class Recorder implements WatchListener {
  readonly events: WatchEvent[] = [];
  readonly errors: Error[] = [];

  onEvent(event: WatchEvent): void {
    this.events.push(event);
  }

  onError(error: Error): void {
    this.errors.push(error);
  }

  get revisions(): number[] {
    return this.events.map((e) => e.revision);
  }

  /** Wait until an event at `revision` (or later) arrived. */
  async reach(revision: number, what = `an event at revision ${revision}`): Promise<void> {
    await waitFor(what, () => this.events.some((e) => e.revision >= revision));
  }
}

/** Await `promise`, assert it rejects with a TrellisError of `code`, and return the error. */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<TrellisError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof TrellisError, `expected a TrellisError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected a rejection with ${code}`);
}

/** Keys in byte (UTF-8) order, the order every backend sorts by. */
function byteOrder(keys: string[]): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

export function storeContract(name: string, open: OpenStore): void {
  describe(`${name} store: KvStore contract`, () => {
    let opened: OpenedStore;
    let store: KvStore;
    let counter = 0;
    /** A prefix no other test uses. */
    const fresh = (label: string): string => `/contract/${label}-${(counter += 1)}/`;

    before(async () => {
      opened = await open();
      store = opened.store;
    });
    after(async () => {
      await opened.close();
    });

    /** Open a store of its own for `body`, and close it whatever happens. */
    async function withOwnStore(body: (own: KvStore) => Promise<void>): Promise<void> {
      const own = await open();
      try {
        await body(own.store);
      } finally {
        await own.close();
      }
    }

    describe('keys', () => {
      it('put then get returns the value with its create and mod revisions and version', async () => {
        const key = `${fresh('put')}k`;
        const first = await store.put(key, 'v1');
        assert.ok(first.revision > 0);
        assert.equal(first.prevKv, undefined);
        assert.deepEqual(await store.get(key), {
          kv: { key, value: 'v1', createRevision: first.revision, modRevision: first.revision, version: 1, lease: undefined },
          revision: first.revision,
        });

        const second = await store.put(key, 'v2');
        assert.ok(second.revision > first.revision);
        assert.deepEqual(second.prevKv, { key, value: 'v1', createRevision: first.revision, modRevision: first.revision, version: 1, lease: undefined });
        assert.deepEqual(await store.get(key), {
          kv: { key, value: 'v2', createRevision: first.revision, modRevision: second.revision, version: 2, lease: undefined },
          revision: second.revision,
        });
      });

      it('get of a missing key returns no kv and the current revision', async () => {
        const { revision } = await store.put(`${fresh('missing')}other`, 'x');
        assert.deepEqual(await store.get(`${fresh('missing')}nothing`), { kv: undefined, revision });
      });

      it('revisions strictly increase, and reads and status report the latest', async () => {
        const prefix = fresh('revisions');
        const revisions: number[] = [];
        for (let i = 0; i < 20; i += 1) revisions.push((await store.put(`${prefix}${i % 3}`, String(i))).revision);
        for (let i = 1; i < revisions.length; i += 1) assert.ok(revisions[i] > revisions[i - 1], `revision ${revisions[i]} after ${revisions[i - 1]}`);
        const last = revisions.at(-1);
        assert.equal((await store.get(`${prefix}0`)).revision, last);
        assert.equal((await store.range(prefix)).revision, last);
        assert.equal((await store.status()).revision, last);
      });

      it('round-trips empty, unicode and large values', async () => {
        const prefix = fresh('values');
        const values = ['', 'ünïcødé ✓ 😀', 'x'.repeat(100_000), '{"json":true}\n'];
        for (const [i, value] of values.entries()) await store.put(`${prefix}${i}`, value);
        for (const [i, value] of values.entries()) assert.equal((await store.get(`${prefix}${i}`)).kv?.value, value);
      });

      it('range returns exactly the keys with the prefix, in byte order', async () => {
        const prefix = fresh('range');
        const inside = [`${prefix}b`, `${prefix}a/2`, `${prefix}a`, `${prefix}a/1`, `${prefix}\uFFFD`, `${prefix}😀`, `${prefix}Z`];
        const outside = [prefix.slice(0, -1), `${prefix.slice(0, -1)}x`, `${prefix.slice(0, -1)}0/a`];
        for (const key of [...inside, ...outside]) await store.put(key, key);
        const { kvs, revision } = await store.range(prefix);
        assert.deepEqual(kvs.map((kv) => kv.key), byteOrder(inside));
        assert.equal(revision, (await store.status()).revision);
        assert.deepEqual((await store.range(`${prefix}a`)).kvs.map((kv) => kv.key), [`${prefix}a`, `${prefix}a/1`, `${prefix}a/2`]);
        assert.deepEqual((await store.range(`${prefix}nothing`)).kvs, []);
      });

      it('delete removes a key, returns it, and takes a revision only when something was deleted', async () => {
        const key = `${fresh('delete')}k`;
        const put = await store.put(key, 'v');
        const deleted = await store.delete(key);
        assert.ok(deleted.revision > put.revision);
        assert.equal(deleted.deleted, 1);
        assert.deepEqual(deleted.prevKv, { key, value: 'v', createRevision: put.revision, modRevision: put.revision, version: 1, lease: undefined });
        assert.deepEqual(await store.get(key), { kv: undefined, revision: deleted.revision });

        assert.deepEqual(await store.delete(key), { revision: deleted.revision, deleted: 0, prevKv: undefined });
        assert.equal((await store.status()).revision, deleted.revision);
      });

      it('a key re-created after a delete starts again at version 1 with a new createRevision', async () => {
        const key = `${fresh('recreate')}k`;
        await store.put(key, 'a');
        await store.put(key, 'b');
        await store.delete(key);
        const again = await store.put(key, 'c');
        assert.equal(again.prevKv, undefined);
        const { kv } = await store.get(key);
        assert.equal(kv?.version, 1);
        assert.equal(kv?.createRevision, again.revision);
      });

      it('deletePrefix removes exactly the keys with the prefix, in one revision', async () => {
        const prefix = fresh('deleteprefix');
        const neighbour = `${prefix.slice(0, -1)}x`;
        for (const key of [`${prefix}a`, `${prefix}b/c`, `${prefix}d`, neighbour]) await store.put(key, 'v');
        const before = (await store.status()).revision;
        const watcher = new Recorder();
        const watch = await store.watch(prefix, { afterRevision: before }, watcher);
        const result = await store.deletePrefix(prefix);
        assert.equal(result.deleted, 3);
        assert.equal(result.revision, before + 1);
        assert.deepEqual((await store.range(prefix)).kvs, []);
        assert.equal((await store.get(neighbour)).kv?.value, 'v');
        await waitFor('three delete events', () => watcher.events.length === 3);
        assert.deepEqual(watcher.events.map((e) => [e.type, e.revision]), [['delete', result.revision], ['delete', result.revision], ['delete', result.revision]]);
        watch.close();

        assert.deepEqual(await store.deletePrefix(prefix), { revision: result.revision, deleted: 0 });
      });
    });

    describe('compare-and-swap', () => {
      it('ifModRevision 0 creates a key only if it does not exist', async () => {
        const key = `${fresh('cas-create')}k`;
        const created = await store.put(key, 'first', { ifModRevision: 0 });
        const conflict = await rejectsWith(store.put(key, 'second', { ifModRevision: 0 }), ErrorCodes.CONFLICT);
        assert.match(conflict.message, /k/);
        assert.equal((await store.get(key)).kv?.value, 'first');
        assert.equal((await store.status()).revision, created.revision, 'a failed CAS takes no revision');
      });

      it('ifModRevision must equal the key’s modRevision; otherwise nothing is written', async () => {
        const key = `${fresh('cas-update')}k`;
        const v1 = await store.put(key, 'v1');
        const v2 = await store.put(key, 'v2');
        await rejectsWith(store.put(key, 'stale', { ifModRevision: v1.revision }), ErrorCodes.CONFLICT);
        await rejectsWith(store.put(`${key}-missing`, 'x', { ifModRevision: v2.revision }), ErrorCodes.CONFLICT);
        assert.equal((await store.get(`${key}-missing`)).kv, undefined);
        assert.deepEqual((await store.get(key)).kv, { key, value: 'v2', createRevision: v1.revision, modRevision: v2.revision, version: 2, lease: undefined });
        assert.equal((await store.status()).revision, v2.revision);

        const v3 = await store.put(key, 'v3', { ifModRevision: v2.revision });
        assert.equal((await store.get(key)).kv?.modRevision, v3.revision);
      });

      it('delete with ifModRevision deletes only the expected version', async () => {
        const key = `${fresh('cas-delete')}k`;
        const v1 = await store.put(key, 'v1');
        const v2 = await store.put(key, 'v2');
        await rejectsWith(store.delete(key, { ifModRevision: v1.revision }), ErrorCodes.CONFLICT);
        assert.equal((await store.get(key)).kv?.value, 'v2');
        assert.equal((await store.status()).revision, v2.revision);
        const deleted = await store.delete(key, { ifModRevision: v2.revision });
        assert.equal(deleted.deleted, 1);
        assert.equal((await store.get(key)).kv, undefined);
      });

      it('of concurrent swaps from the same revision exactly one wins', async () => {
        const key = `${fresh('cas-race')}k`;
        const { revision } = await store.put(key, 'start');
        const attempts = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.put(key, `w${i}`, { ifModRevision: revision })));
        const won = attempts.filter((a) => a.status === 'fulfilled');
        assert.equal(won.length, 1);
        for (const lost of attempts) {
          if (lost.status === 'rejected') assert.equal((lost.reason as TrellisError).code, ErrorCodes.CONFLICT);
        }
        assert.equal((await store.get(key)).kv?.version, 2);
      });
    });

    describe('paged range', () => {
      it('pages through a prefix in byte order with limit and after, saying when more follow', async () => {
        const prefix = fresh('page');
        const keys = byteOrder(['a', 'b', 'c', 'd', 'e', 'é', 'z'].map((k) => `${prefix}${k}`));
        for (const key of keys) await store.put(key, key);
        await store.put(`${prefix.slice(0, -1)}x`, 'outside the prefix');
        const seen: string[] = [];
        let after: string | undefined;
        let pages = 0;
        for (;;) {
          const page = await store.range(prefix, { limit: 3, ...(after === undefined ? {} : { after }) });
          pages += 1;
          assert.ok(page.kvs.length <= 3);
          seen.push(...page.kvs.map((kv) => kv.key));
          if (!page.more) break;
          after = page.kvs[page.kvs.length - 1]?.key;
        }
        assert.deepEqual(seen, keys);
        assert.equal(pages, 3);
        const whole = await store.range(prefix);
        assert.equal(whole.more, false);
        assert.deepEqual(whole.kvs.map((kv) => kv.key), keys);
      });

      it('a limit exactly the size of the prefix says no more follow; a bad limit is refused', async () => {
        const prefix = fresh('page-exact');
        await store.put(`${prefix}1`, '1');
        await store.put(`${prefix}2`, '2');
        assert.equal((await store.range(prefix, { limit: 2 })).more, false);
        assert.equal((await store.range(prefix, { limit: 1 })).more, true);
        assert.deepEqual((await store.range(prefix, { after: `${prefix}2` })).kvs, []);
        await rejectsWith(store.range(prefix, { limit: 0 }), ErrorCodes.VALIDATION);
      });
    });

    describe('transactions', () => {
      it('applies every op at one revision, with previous values, seen by a watcher in op order', async () => {
        const prefix = fresh('txn');
        const before = await store.put(`${prefix}b`, 'old b');
        await store.put(`${prefix}c`, 'doomed');
        const recorder = new Recorder();
        const watcher = await store.watch(prefix, { afterRevision: before.revision + 1 }, recorder);
        try {
          const lease = await store.grantLease(10_000);
          const result = await store.txn([
            { type: 'put', key: `${prefix}a`, value: 'new a', lease: lease.id },
            { type: 'put', key: `${prefix}b`, value: 'new b' },
            { type: 'delete', key: `${prefix}c` },
          ]);
          assert.equal(result.prevKvs.length, 3);
          assert.equal(result.prevKvs[0], undefined);
          assert.equal(result.prevKvs[1]?.value, 'old b');
          assert.equal(result.prevKvs[2]?.value, 'doomed');
          const a = (await store.get(`${prefix}a`)).kv;
          assert.equal(a?.modRevision, result.revision);
          assert.equal(a?.lease, lease.id);
          assert.equal((await store.get(`${prefix}b`)).kv?.modRevision, result.revision);
          assert.equal((await store.get(`${prefix}c`)).kv, undefined);
          await recorder.reach(result.revision);
          assert.deepEqual(recorder.events.map((e) => [e.type, e.key.slice(prefix.length), e.revision]), [
            ['put', 'a', result.revision], ['put', 'b', result.revision], ['delete', 'c', result.revision],
          ]);
          assert.equal(recorder.events[1]?.prevValue, 'old b');
          await store.revokeLease(lease.id);
          assert.equal((await store.get(`${prefix}a`)).kv, undefined, 'the key went with its lease');
        } finally {
          watcher.close();
        }
      });

      it('writes nothing when a compare fails: CONFLICT, no revision used', async () => {
        const prefix = fresh('txn-cas');
        const first = await store.put(`${prefix}guard`, 'v1');
        await store.put(`${prefix}guard`, 'v2');
        const revision = (await store.get(`${prefix}guard`)).revision;
        await rejectsWith(store.txn([{ type: 'put', key: `${prefix}x`, value: 'x' }], [{ key: `${prefix}guard`, modRevision: first.revision }]), ErrorCodes.CONFLICT);
        await rejectsWith(store.txn([{ type: 'put', key: `${prefix}x`, value: 'x' }], [{ key: `${prefix}missing`, modRevision: 5 }]), ErrorCodes.CONFLICT);
        assert.equal((await store.get(`${prefix}x`)).kv, undefined);
        assert.equal((await store.get(`${prefix}guard`)).revision, revision, 'a failed transaction takes no revision');
        const current = (await store.get(`${prefix}guard`)).kv?.modRevision ?? -1;
        const ok = await store.txn([{ type: 'put', key: `${prefix}x`, value: 'x' }], [{ key: `${prefix}guard`, modRevision: current }, { key: `${prefix}absent`, modRevision: 0 }]);
        assert.equal((await store.get(`${prefix}x`)).kv?.modRevision, ok.revision);
      });

      it('refuses an empty transaction, a key twice, and an unknown lease, writing nothing', async () => {
        const prefix = fresh('txn-bad');
        await rejectsWith(store.txn([]), ErrorCodes.VALIDATION);
        await rejectsWith(store.txn([{ type: 'put', key: `${prefix}k`, value: '1' }, { type: 'delete', key: `${prefix}k` }]), ErrorCodes.VALIDATION);
        const lease = await store.grantLease(TTL_MS);
        await store.revokeLease(lease.id);
        await rejectsWith(store.txn([{ type: 'put', key: `${prefix}k`, value: '1' }, { type: 'put', key: `${prefix}l`, value: '2', lease: lease.id }]), ErrorCodes.LEASE_NOT_FOUND);
        assert.deepEqual((await store.range(prefix)).kvs, []);
      });
    });

    describe('leases', () => {
      it('grantLease returns an id; keys attach to it and leaseInfo lists them', async () => {
        const prefix = fresh('lease-info');
        const lease = await store.grantLease(5_000);
        assert.equal(typeof lease.id, 'string');
        assert.equal(lease.ttlMs, 5_000);
        const other = await store.grantLease(5_000);
        assert.notEqual(other.id, lease.id, 'ids are fresh');
        await store.revokeLease(other.id); // leases may be cluster-wide: leave none behind
        await store.put(`${prefix}b`, 'v', { lease: lease.id });
        await store.put(`${prefix}a`, 'v', { lease: lease.id });
        assert.equal((await store.get(`${prefix}a`)).kv?.lease, lease.id);
        const info = await store.leaseInfo(lease.id);
        assert.ok(info);
        assert.equal(info.id, lease.id);
        assert.equal(info.ttlMs, 5_000);
        assert.ok(info.remainingMs > 0 && info.remainingMs <= 5_000, `remainingMs ${info.remainingMs}`);
        assert.deepEqual(info.keys, [`${prefix}a`, `${prefix}b`]);
        await store.revokeLease(lease.id);
      });

      it('rejects a TTL below 1 ms', async () => {
        await rejectsWith(store.grantLease(0), ErrorCodes.VALIDATION);
      });

      it('a put with an unknown lease fails with LEASE_NOT_FOUND and writes nothing', async () => {
        const key = `${fresh('lease-unknown')}k`;
        const before = (await store.status()).revision;
        await rejectsWith(store.put(key, 'v', { lease: '7eadbeef00000001' }), ErrorCodes.LEASE_NOT_FOUND);
        assert.equal((await store.get(key)).kv, undefined);
        assert.equal((await store.status()).revision, before);
        await rejectsWith(store.keepAlive('7eadbeef00000001'), ErrorCodes.LEASE_NOT_FOUND);
        await rejectsWith(store.revokeLease('7eadbeef00000001'), ErrorCodes.LEASE_NOT_FOUND);
        assert.equal(await store.leaseInfo('7eadbeef00000001'), undefined);
      });

      it('keys vanish with a delete event after the TTL, and the lease is gone', async () => {
        const prefix = fresh('lease-expiry');
        const watcher = new Recorder();
        const watch = await store.watch(prefix, { afterRevision: (await store.status()).revision }, watcher);
        const grantedAt = Date.now();
        const lease = await store.grantLease(TTL_MS);
        await store.put(`${prefix}a`, 'v', { lease: lease.id });
        await store.put(`${prefix}b`, 'v', { lease: lease.id });
        await store.put(`${prefix}kept`, 'v');

        await waitFor('the leased keys to be deleted', () => watcher.events.filter((e) => e.type === 'delete').length === 2, { timeoutMs: 5_000 });
        assert.ok(Date.now() - grantedAt >= TTL_MS - 5, 'not before the TTL');
        const deletes = watcher.events.filter((e) => e.type === 'delete');
        assert.deepEqual(deletes.map((e) => [e.key, e.prevValue]), [[`${prefix}a`, 'v'], [`${prefix}b`, 'v']]);
        assert.equal(deletes[0]?.revision, deletes[1]?.revision, 'one revision for the whole lease');
        assert.deepEqual((await store.range(prefix)).kvs.map((kv) => kv.key), [`${prefix}kept`]);
        await waitFor('the lease to be gone', async () => (await store.leaseInfo(lease.id)) === undefined);
        await rejectsWith(store.keepAlive(lease.id), ErrorCodes.LEASE_NOT_FOUND);
        await rejectsWith(store.put(`${prefix}late`, 'v', { lease: lease.id }), ErrorCodes.LEASE_NOT_FOUND);
        watch.close();
      });

      it('keepAlive keeps keys alive past several TTLs; they go once keep-alives stop', async () => {
        const key = `${fresh('lease-keepalive')}k`;
        const lease = await store.grantLease(TTL_MS);
        // A backend may round a TTL up to its granularity (etcd: whole seconds); the grant says so.
        assert.ok(lease.ttlMs >= TTL_MS, `granted ${lease.ttlMs} ms for ${TTL_MS} ms`);
        await store.put(key, 'v', { lease: lease.id });
        const startedAt = Date.now();
        const failures: unknown[] = [];
        const heartbeat = setInterval(() => {
          store.keepAlive(lease.id).then((grant) => assert.equal(grant.ttlMs, lease.ttlMs)).catch((err: unknown) => failures.push(err));
        }, TTL_MS / 4);
        try {
          await waitFor('four TTLs with the key in place', async () => {
            assert.ok((await store.get(key)).kv, 'the key expired despite keep-alives');
            return Date.now() - startedAt > 4 * lease.ttlMs;
          }, { timeoutMs: 10 * lease.ttlMs });
        } finally {
          clearInterval(heartbeat);
        }
        assert.deepEqual(failures, []);
        await waitFor('the key to expire after keep-alives stopped', async () => (await store.get(key)).kv === undefined, { timeoutMs: 5_000 });
      });

      it('revokeLease deletes the lease’s keys at once, in one revision', async () => {
        const prefix = fresh('lease-revoke');
        const lease = await store.grantLease(60_000);
        await store.put(`${prefix}a`, 'v', { lease: lease.id });
        await store.put(`${prefix}b`, 'v', { lease: lease.id });
        const watcher = new Recorder();
        const watch = await store.watch(prefix, { afterRevision: (await store.status()).revision }, watcher);
        const revoked = await store.revokeLease(lease.id);
        assert.equal(revoked.deleted, 2);
        assert.deepEqual((await store.range(prefix)).kvs, []);
        await waitFor('two delete events', () => watcher.events.length === 2);
        assert.deepEqual(watcher.events.map((e) => [e.type, e.revision]), [['delete', revoked.revision], ['delete', revoked.revision]]);
        assert.equal(await store.leaseInfo(lease.id), undefined);
        await rejectsWith(store.keepAlive(lease.id), ErrorCodes.LEASE_NOT_FOUND);
        await rejectsWith(store.revokeLease(lease.id), ErrorCodes.LEASE_NOT_FOUND);
        await rejectsWith(store.put(`${prefix}c`, 'v', { lease: lease.id }), ErrorCodes.LEASE_NOT_FOUND);
        watch.close();
      });

      it('a put without a lease detaches the key from its lease', async () => {
        const key = `${fresh('lease-detach')}k`;
        const lease = await store.grantLease(60_000);
        await store.put(key, 'leased', { lease: lease.id });
        await store.put(key, 'free');
        assert.equal((await store.get(key)).kv?.lease, undefined);
        assert.deepEqual((await store.revokeLease(lease.id)).deleted, 0);
        assert.equal((await store.get(key)).kv?.value, 'free');
      });
    });

    describe('watch', () => {
      it('replays from a past revision, then continues live, with no gap and no duplicate', async () => {
        const prefix = fresh('watch-resume');
        const start = (await store.put(`${prefix}0`, 'before')).revision;
        // Another watcher on the prefix, as in real life: live events for it are in flight too.
        const bystander = new Recorder();
        const other = await store.watch(prefix, { afterRevision: start }, bystander);
        // Writes in flight while the watch is being set up, and more after it.
        const early = Array.from({ length: 30 }, (_, i) => store.put(`${prefix}${i % 4}`, `early${i}`));
        const watcher = new Recorder();
        const watching = store.watch(prefix, { afterRevision: start }, watcher);
        const late = Array.from({ length: 30 }, (_, i) => store.put(`${prefix}${i % 4}`, `late${i}`));
        const watch = await watching;
        const more = await store.put(`${prefix}last`, 'x');
        const written = [...(await Promise.all([...early, ...late])).map((r) => r.revision), more.revision].sort((a, b) => a - b);
        // Writes in flight may be acknowledged after `more` with higher revisions: wait for the last.
        const last = written[written.length - 1] ?? more.revision;

        await watcher.reach(last);
        await bystander.reach(last);
        assert.deepEqual(watcher.revisions, written);
        assert.deepEqual(bystander.revisions, written);
        assert.deepEqual(watcher.errors, []);
        watch.close();
        other.close();
      });

      it('delivers puts and deletes with their values, previous values and leases', async () => {
        const prefix = fresh('watch-content');
        const lease = await store.grantLease(60_000);
        const after = (await store.status()).revision;
        const watcher = new Recorder();
        const watch = await store.watch(prefix, { afterRevision: after }, watcher);
        const r1 = (await store.put(`${prefix}k`, 'v1')).revision;
        const r2 = (await store.put(`${prefix}k`, 'v2', { lease: lease.id })).revision;
        const r3 = (await store.delete(`${prefix}k`)).revision;
        await watcher.reach(r3);
        assert.deepEqual(watcher.events, [
          { type: 'put', key: `${prefix}k`, revision: r1, value: 'v1', lease: undefined, prevValue: undefined },
          { type: 'put', key: `${prefix}k`, revision: r2, value: 'v2', lease: lease.id, prevValue: 'v1' },
          { type: 'delete', key: `${prefix}k`, revision: r3, value: undefined, lease: undefined, prevValue: 'v2' },
        ]);
        watch.close();
        await store.revokeLease(lease.id);
      });

      it('afterRevision 0 replays all retained history of the prefix', async () => {
        const prefix = fresh('watch-zero');
        const revisions = [(await store.put(`${prefix}a`, '1')).revision, (await store.put(`${prefix}b`, '2')).revision, (await store.delete(`${prefix}a`)).revision];
        const watcher = new Recorder();
        const watch = await store.watch(prefix, { afterRevision: 0 }, watcher);
        await watcher.reach(revisions[2]);
        assert.deepEqual(watcher.revisions, revisions);
        watch.close();
      });

      it('from the current revision delivers only new events', async () => {
        const prefix = fresh('watch-now');
        await store.put(`${prefix}old`, 'v');
        const watcher = new Recorder();
        const watch = await store.watch(prefix, { afterRevision: (await store.status()).revision }, watcher);
        const { revision } = await store.put(`${prefix}new`, 'v');
        await watcher.reach(revision);
        assert.deepEqual(watcher.events.map((e) => e.key), [`${prefix}new`]);
        watch.close();
      });

      it('sees only keys with its prefix', async () => {
        const base = fresh('watch-prefix');
        const prefix = `${base}a/`;
        const watcher = new Recorder();
        const watch = await store.watch(prefix, { afterRevision: (await store.status()).revision }, watcher);
        for (const key of [`${base}a`, `${base}ab`, `${base}b/1`, `${prefix}1`, `${base}a0`]) await store.put(key, 'v');
        const { revision } = await store.put(`${prefix}2`, 'v');
        await watcher.reach(revision);
        assert.deepEqual(watcher.events.map((e) => e.key), [`${prefix}1`, `${prefix}2`]);
        watch.close();
      });

      it('rejects a revision in the future with INVALID_REVISION', async () => {
        const { revision } = await store.status();
        await rejectsWith(store.watch('/contract/', { afterRevision: revision + 1_000 }, new Recorder()), ErrorCodes.INVALID_REVISION);
      });

      it('close stops delivery and is idempotent', async () => {
        const prefix = fresh('watch-close');
        const after = (await store.status()).revision;
        const closed = new Recorder();
        const sentinel = new Recorder();
        const watch = await store.watch(prefix, { afterRevision: after }, closed);
        const control = await store.watch(prefix, { afterRevision: after }, sentinel);
        const first = await store.put(`${prefix}k`, '1');
        await closed.reach(first.revision);
        watch.close();
        watch.close();
        const second = await store.put(`${prefix}k`, '2');
        await sentinel.reach(second.revision);
        assert.deepEqual(closed.revisions, [first.revision]);
        assert.deepEqual(closed.errors, []);
        control.close();
      });

      it('a listener that throws does not disturb other watchers or its own later events', async () => {
        const prefix = fresh('watch-throw');
        const after = (await store.status()).revision;
        const calls: number[] = [];
        const thrower = await store.watch(prefix, { afterRevision: after }, {
          onEvent(event) {
            calls.push(event.revision);
            throw new Error('listener failure (expected in this test)');
          },
          onError() {},
        });
        const watcher = new Recorder();
        const watch = await store.watch(prefix, { afterRevision: after }, watcher);
        const revisions: number[] = [];
        for (let i = 0; i < 3; i += 1) revisions.push((await store.put(`${prefix}k`, String(i))).revision);
        await watcher.reach(revisions[2]);
        await waitFor('the throwing listener to get every event', () => calls.length === 3);
        assert.deepEqual(watcher.revisions, revisions);
        assert.deepEqual(calls, revisions);
        thrower.close();
        watch.close();
      });

      it('many watchers on one prefix all get every event, in order', async () => {
        const prefix = fresh('watch-many');
        const after = (await store.status()).revision;
        const watchers = Array.from({ length: 1_000 }, () => new Recorder());
        const watches: Watcher[] = [];
        for (const watcher of watchers) watches.push(await store.watch(prefix, { afterRevision: after }, watcher));
        const revisions: number[] = [];
        for (let i = 0; i < 20; i += 1) revisions.push((await store.put(`${prefix}${i % 5}`, String(i))).revision);
        const last = revisions[revisions.length - 1];
        await waitFor('every watcher to get every event', () => watchers.every((w) => w.events.some((e) => e.revision === last)));
        for (const watcher of watchers) assert.deepEqual(watcher.revisions, revisions);
        for (const watch of watches) watch.close();
      });
    });

    describe('compaction', () => {
      it('drops history: a watch from before it fails with COMPACTED and the compact revision', async () => {
        await withOwnStore(async (own) => {
          const revisions: number[] = [];
          for (let i = 0; i < 6; i += 1) revisions.push((await own.put(`/contract/compact/${i % 2}`, String(i))).revision);
          const at = revisions[2];
          await own.compact(at);
          assert.equal((await own.status()).compactRevision, at);

          const err = await rejectsWith(own.watch('/contract/compact/', { afterRevision: at - 1 }, new Recorder()), ErrorCodes.COMPACTED);
          assert.equal(err.details?.['compactRevision'], at);
          await rejectsWith(own.watch('/contract/compact/', { afterRevision: 0 }, new Recorder()), ErrorCodes.COMPACTED);

          const watcher = new Recorder();
          const watch = await own.watch('/contract/compact/', { afterRevision: at }, watcher);
          await watcher.reach(revisions[5]);
          assert.deepEqual(watcher.revisions, revisions.slice(3));
          watch.close();

          // The current state is untouched.
          assert.deepEqual((await own.range('/contract/compact/')).kvs.map((kv) => kv.value), ['4', '5']);
          // Compacting to an older revision again changes nothing.
          await own.compact(revisions[1]);
          assert.equal((await own.status()).compactRevision, at);
        });
      });

      it('rejects compacting to a future revision with INVALID_REVISION', async () => {
        const { revision } = await store.status();
        await rejectsWith(store.compact(revision + 1_000), ErrorCodes.INVALID_REVISION);
      });
    });

    describe('status and close', () => {
      it('status reports the backend, revision, compact revision, keys and leases', async () => {
        await withOwnStore(async (own) => {
          const before = await own.status();
          assert.equal(before.backend, own.backend);
          const lease = await own.grantLease(60_000);
          await own.put('/contract/status/a', 'v', { lease: lease.id });
          const { revision } = await own.put('/contract/status/b', 'v');
          const after = await own.status();
          assert.deepEqual(after, {
            backend: own.backend,
            revision,
            compactRevision: before.compactRevision,
            keys: before.keys + 2,
            leases: before.leases + 1,
          });
        });
      });

      it('close ends every watch with one STORE_CLOSED error and later calls fail', async () => {
        await withOwnStore(async (own) => {
          const watchers = [new Recorder(), new Recorder(), new Recorder()];
          // From the current revision: history may be shared with (and compacted by) other stores on one cluster.
          const { revision } = await own.status();
          for (const [i, watcher] of watchers.entries()) await own.watch(`/contract/close/${i}/`, { afterRevision: revision }, watcher);
          await own.close();
          await waitFor('every watcher to get an error', () => watchers.every((w) => w.errors.length > 0));
          for (const watcher of watchers) {
            assert.equal(watcher.errors.length, 1);
            assert.equal((watcher.errors[0] as TrellisError).code, ErrorCodes.STORE_CLOSED);
          }
          await own.close();
          await rejectsWith(own.get('/contract/close/x'), ErrorCodes.STORE_CLOSED);
          await rejectsWith(own.put('/contract/close/x', 'v'), ErrorCodes.STORE_CLOSED);
          await rejectsWith(own.watch('/contract/close/', { afterRevision: revision }, new Recorder()), ErrorCodes.STORE_CLOSED);
          for (const watcher of watchers) assert.equal(watcher.errors.length, 1, 'onError exactly once');
        });
      });
    });
  });
}
