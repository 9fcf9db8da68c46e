/**
 * The embedded SQLite store: the shared KvStore contract, then what only a store on a local
 * file has — surviving a reopen and kill -9, lease deadlines after a restart, WAL mode, and the
 * errors an operator sees for a bad data dir or a damaged database file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ErrorCodes } from '../../src/errors.js';
import { DATABASE_FILE, openSqliteStore } from '../../src/store/sqlite/index.js';
import { waitFor } from '../helpers/wait.js';
import { Recorder, rejectsWith, storeContract } from './contract.js';

const root = mkdtempSync(join(tmpdir(), 'trellis-sqlite-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
/** A data dir path that does not exist yet. */
function dataDir(): string {
  dirs += 1;
  return join(root, `store-${dirs}`);
}

/** A manually advanced clock for lease deadlines. */
function manualClock(start = 0): { now: () => number; set(ms: number): void } {
  let ms = start;
  return { now: () => ms, set: (value) => { ms = value; } };
}

storeContract('sqlite', async () => {
  const dir = dataDir();
  const store = await openSqliteStore({ dataDir: dir });
  return {
    store,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('sqlite store: durability', () => {
  it('creates a missing data dir with its parents', async () => {
    const dir = join(dataDir(), 'a', 'b');
    const store = await openSqliteStore({ dataDir: dir });
    assert.ok(existsSync(join(dir, DATABASE_FILE)));
    await store.close();
  });

  it('keeps keys, the revision counter and leases across a reopen, each lease with a fresh TTL', async () => {
    const dir = dataDir();
    const clock = manualClock(1_000);
    const first = await openSqliteStore({ dataDir: dir, now: clock.now });
    const lease = await first.grantLease(10_000);
    const leased = await first.put('/reopen/leased', 'v', { lease: lease.id });
    const created = await first.put('/reopen/plain', 'p1');
    const updated = await first.put('/reopen/plain', 'p2');
    clock.set(10_000); // 9 s of the 10 s TTL used up
    assert.equal((await first.leaseInfo(lease.id))?.remainingMs, 1_000);
    await first.close();

    clock.set(500_000); // long past the old deadline: the restart must not expire it
    const second = await openSqliteStore({ dataDir: dir, now: clock.now });
    assert.deepEqual(await second.status(), { backend: 'sqlite', revision: updated.revision, compactRevision: 0, keys: 2, leases: 1 });
    assert.deepEqual((await second.get('/reopen/plain')).kv, {
      key: '/reopen/plain', value: 'p2', createRevision: created.revision, modRevision: updated.revision, version: 2, lease: undefined,
    });
    assert.equal((await second.get('/reopen/leased')).kv?.modRevision, leased.revision);
    const info = await second.leaseInfo(lease.id);
    assert.deepEqual({ ...info, remainingMs: 0 }, { id: lease.id, ttlMs: 10_000, remainingMs: 0, keys: ['/reopen/leased'] });
    // A full fresh TTL, plus up to half a TTL of jitter so a restart does not line every deadline up.
    assert.ok(info !== undefined && info.remainingMs >= 10_000 && info.remainingMs <= 15_000, `remaining ${info?.remainingMs}`);
    await second.keepAlive(lease.id);
    assert.equal((await second.put('/reopen/next', 'v')).revision, updated.revision + 1);
    await second.close();
  });

  it('spreads the deadlines of leases nobody renews after a reopen over half a TTL', async () => {
    const dir = dataDir();
    const clock = manualClock(0);
    const first = await openSqliteStore({ dataDir: dir, now: clock.now });
    const leases = await Promise.all(Array.from({ length: 200 }, () => first.grantLease(10_000)));
    await first.close();
    const second = await openSqliteStore({ dataDir: dir, now: clock.now });
    try {
      const remaining = await Promise.all(leases.map(async (l) => (await second.leaseInfo(l.id))?.remainingMs ?? -1));
      assert.ok(remaining.every((ms) => ms >= 10_000 && ms <= 15_000), 'never less than a full TTL');
      const ticks = new Set(remaining.map((ms) => Math.floor(ms / 50)));
      assert.ok(ticks.size > 50, `200 deadlines fall in ${ticks.size} different 50 ms ticks, not one`);
    } finally {
      await second.close();
    }
  });

  it('a watcher resuming after a reopen from its last revision gets exactly the missed events', async () => {
    const dir = dataDir();
    const first = await openSqliteStore({ dataDir: dir });
    const seen = new Recorder();
    const watch = await first.watch('/resume/', { afterRevision: 0 }, seen);
    const written: number[] = [];
    for (let i = 0; i < 5; i += 1) written.push((await first.put(`/resume/${i % 2}`, String(i))).revision);
    await seen.reach(written[4]);
    watch.close();
    const lastSeen = seen.revisions.at(-1) ?? 0;
    // Missed while disconnected, then the store restarts.
    written.push((await first.put('/resume/0', 'missed')).revision);
    written.push((await first.delete('/resume/1')).revision);
    await first.put('/elsewhere/x', 'not watched');
    await first.close();

    const second = await openSqliteStore({ dataDir: dir });
    const resumed = new Recorder();
    const watch2 = await second.watch('/resume/', { afterRevision: lastSeen }, resumed);
    written.push((await second.put('/resume/2', 'after restart')).revision);
    await resumed.reach(written[written.length - 1]);
    assert.deepEqual([...seen.revisions, ...resumed.revisions], written);
    assert.deepEqual(resumed.events.map((e) => [e.type, e.key]), [['put', '/resume/0'], ['delete', '/resume/1'], ['put', '/resume/2']]);
    watch2.close();
    await second.close();
  });

  it('keeps every acknowledged write when the process is killed with SIGKILL', async () => {
    const dir = dataDir();
    const moduleUrl = new URL('../../src/store/sqlite/index.js', import.meta.url).href;
    const script = `
      const { openSqliteStore } = await import(${JSON.stringify(moduleUrl)});
      const store = await openSqliteStore({ dataDir: ${JSON.stringify(dir)} });
      const lease = await store.grantLease(60000);
      for (let i = 0; ; i += 1) {
        const { revision } = await store.put('/crash/' + i, String(i), i % 2 === 0 ? { lease: lease.id } : {});
        process.stdout.write(i + ' ' + revision + ' ' + lease.id + '\\n');
        await new Promise((resolve) => setImmediate(resolve));
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acknowledged: Array<{ i: number; revision: number; lease: string }> = [];
    const exited = new Promise((resolve) => child.once('exit', resolve));
    for await (const line of createInterface({ input: child.stdout })) {
      const [i, revision, lease] = line.split(' ');
      acknowledged.push({ i: Number(i), revision: Number(revision), lease: String(lease) });
      if (acknowledged.length === 300) child.kill('SIGKILL');
    }
    await exited;
    assert.ok(acknowledged.length >= 300);

    const store = await openSqliteStore({ dataDir: dir });
    const { kvs, revision } = await store.range('/crash/');
    const last = acknowledged[acknowledged.length - 1];
    assert.ok(revision >= last.revision, `revision ${revision} went back below ${last.revision}`);
    const values = new Map(kvs.map((kv) => [kv.key, kv]));
    for (const { i, revision: at, lease } of acknowledged) {
      const kv = values.get(`/crash/${i}`);
      assert.equal(kv?.value, String(i), `acknowledged write ${i} survived`);
      assert.equal(kv?.modRevision, at);
      assert.equal(kv?.lease, i % 2 === 0 ? lease : undefined);
    }
    assert.ok((await store.leaseInfo(last.lease)) !== undefined, 'the lease survived with a fresh TTL');
    await store.close();
  });
});

describe('sqlite store: long replays', () => {
  it('replays 20,000 events in slices, in order, while other work runs; a compaction mid-replay ends it with COMPACTED, never a gap', async (t) => {
    const store = await openSqliteStore({ dataDir: dataDir() });
    try {
      const puts: Array<Promise<unknown>> = [];
      for (let i = 0; i < 20_000; i += 1) puts.push(store.put(`/long/${String(i).padStart(5, '0')}`, String(i)));
      await Promise.all(puts);
      const whole = new Recorder();
      let turns = 0;
      const ticker = setInterval(() => { turns += 1; }, 1);
      const watcher = await store.watch('/long/', { afterRevision: 0 }, whole);
      await whole.reach(20_000);
      clearInterval(ticker);
      watcher.close();
      assert.deepEqual(whole.revisions, Array.from({ length: 20_000 }, (_, i) => i + 1));
      assert.ok(turns > 0, 'timers ran while the replay was delivered');

      const cut = new Recorder();
      const second = await store.watch('/long/', { afterRevision: 0 }, cut);
      await store.compact(15_000);
      await waitFor('the replay to end', () => cut.errors.length > 0 || cut.events.length === 20_000);
      second.close();
      t.diagnostic(`compacted after ${cut.events.length} replayed events`);
      assert.deepEqual(cut.revisions, Array.from({ length: cut.events.length }, (_, i) => i + 1), 'a prefix of the history, no gap');
      if (cut.events.length < 20_000) {
        assert.equal((cut.errors[0] as { code?: string } | undefined)?.code, ErrorCodes.COMPACTED);
      }
    } finally {
      await store.close();
    }
  });
});

describe('sqlite store: leases and compaction', () => {
  it('deletes an expired lease’s keys at the expiry tick after the deadline (well within 500 ms)', async () => {
    const clock = manualClock(0);
    const store = await openSqliteStore({ dataDir: dataDir(), now: clock.now });
    const lease = await store.grantLease(1_000);
    await store.put('/expiry/k', 'v', { lease: lease.id });
    clock.set(999);
    assert.ok(await store.leaseInfo(lease.id), 'alive 1 ms before its deadline');
    clock.set(1_000);
    const deadline = performance.now();
    await waitFor('the key to be deleted', async () => (await store.get('/expiry/k')).kv === undefined, { everyMs: 2 });
    const latency = performance.now() - deadline;
    // The expiry timer ticks every 50 ms: one tick is expected, 10 allowed — a loaded machine delays
    // timers by far more than the 150 ms this was (a lease swept minutes late would still fail).
    assert.ok(latency < 500, `the key was deleted ${latency.toFixed(0)} ms after its lease's deadline (expiry ticks every 50 ms)`);
    assert.equal((await store.status()).leases, 0);
    await store.close();
  });

  it('keepAlive does not touch the disk and sustains a high rate', async () => {
    const store = await openSqliteStore({ dataDir: dataDir() });
    const leases = await Promise.all(Array.from({ length: 1_000 }, () => store.grantLease(60_000)));
    const { revision } = await store.status();
    const started = performance.now();
    for (let round = 0; round < 100; round += 1) {
      await Promise.all(leases.map((lease) => store.keepAlive(lease.id)));
    }
    const elapsed = performance.now() - started;
    // 100,000 renewals; tens of thousands per second is the requirement, this is far more lenient.
    assert.ok(elapsed < 5_000, `100,000 keep-alives took ${elapsed.toFixed(0)} ms`);
    assert.equal((await store.status()).revision, revision, 'keep-alives are not writes');
    await store.close();
  });

  it('automatic compaction keeps the latest retainRevisions revisions', async () => {
    const store = await openSqliteStore({ dataDir: dataDir(), retainRevisions: 10, compactionIntervalMs: 10 });
    for (let i = 0; i < 30; i += 1) await store.put(`/auto/${i % 3}`, String(i));
    await waitFor('automatic compaction', async () => (await store.status()).compactRevision === 20);
    const err = await rejectsWith(store.watch('/auto/', { afterRevision: 19 }, new Recorder()), ErrorCodes.COMPACTED);
    assert.equal(err.details?.['compactRevision'], 20);
    const watcher = new Recorder();
    const watch = await store.watch('/auto/', { afterRevision: 20 }, watcher);
    await watcher.reach(30);
    assert.deepEqual(watcher.revisions, Array.from({ length: 10 }, (_, i) => 21 + i));
    watch.close();
    await store.close();
  });

  it('logs a warning when a watch listener throws', async () => {
    const warnings: Array<{ obj: object; msg: string }> = [];
    const store = await openSqliteStore({ dataDir: dataDir(), logger: { warn: (obj, msg) => warnings.push({ obj, msg }) } });
    await store.watch('/warn/', { afterRevision: 0 }, {
      onEvent() { throw new Error('boom (expected in this test)'); },
      onError() {},
    });
    await store.put('/warn/k', 'v');
    await waitFor('a warning', () => warnings.length === 1);
    assert.match(warnings[0].msg, /listener threw/);
    assert.match(JSON.stringify(warnings[0].obj), /boom/);
    await store.close();
  });
});

describe('sqlite store: files and errors', () => {
  /** Bytes 18 and 19 of a SQLite file are its read and write format versions: 2 means WAL. */
  function fileFormat(file: string): [number, number] {
    const fd = openSync(file, 'r');
    try {
      const header = Buffer.alloc(20);
      readSync(fd, header, 0, 20, 0);
      return [header[18], header[19]];
    } finally {
      closeSync(fd);
    }
  }

  it('keeps the database in WAL mode', async () => {
    const dir = dataDir();
    const store = await openSqliteStore({ dataDir: dir });
    await store.put('/wal/k', 'v');
    const file = join(dir, DATABASE_FILE);
    assert.deepEqual(fileFormat(file), [2, 2]);
    await store.close();
    const db = new Database(file, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  });

  it('copies the WAL into the database on a thread of its own, and leaves no WAL behind when closed', async () => {
    const dir = dataDir();
    const store = await openSqliteStore({ dataDir: dir });
    for (let batch = 0; batch < 5; batch += 1) {
      await Promise.all(Array.from({ length: 400 }, (_, i) => store.put(`/wal/${batch}/${i}`, 'x'.repeat(200))));
    }
    await waitFor('a checkpoint on the checkpoint thread', () => store.checkpoints.checkpoints > 0);
    assert.equal(store.checkpoints.onWorker, true);
    await store.close();
    assert.equal(existsSync(join(dir, `${DATABASE_FILE}-wal`)), false, 'the last connection to close removes the WAL');
    const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
    assert.equal(db.prepare("SELECT count(*) FROM kv WHERE key LIKE '/wal/%'").pluck().get(), 2_000);
    db.close();
  });

  it('refuses a store on a data dir another process uses, and takes it once that process is gone (even by SIGKILL)', async () => {
    const dir = dataDir();
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `
      const { openSqliteStore } = await import(${JSON.stringify(new URL('../../src/store/sqlite/index.js', import.meta.url).href)});
      await openSqliteStore({ dataDir: ${JSON.stringify(dir)} });
      process.stdout.write('open\\n');
      setInterval(() => undefined, 1000);
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    after(() => holder.kill('SIGKILL'));
    const lines: string[] = [];
    createInterface({ input: holder.stdout }).on('line', (l) => lines.push(l));
    await waitFor('the other process to open the store', () => lines.includes('open'));
    const err = await rejectsWith(openSqliteStore({ dataDir: dir }), ErrorCodes.DATA_DIR);
    assert.match(err.message, /locked by another Trellis process/);
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    const store = await openSqliteStore({ dataDir: dir });
    await store.put('/lock/k', 'mine now');
    await store.close();
  });

  it('refuses a second store on the same data dir with DATA_DIR', async () => {
    const dir = dataDir();
    const store = await openSqliteStore({ dataDir: dir });
    const err = await rejectsWith(openSqliteStore({ dataDir: dir }), ErrorCodes.DATA_DIR);
    assert.match(err.message, /locked by another Trellis process/);
    assert.ok(err.message.includes(dir));
    await store.put('/lock/k', 'still works');
    await store.close();
  });

  it('reports a database file full of garbage as DATA_CORRUPT, in one line naming the file', async () => {
    const dir = dataDir();
    await (await openSqliteStore({ dataDir: dir })).close();
    const file = join(dir, DATABASE_FILE);
    writeFileSync(file, 'this is not a database '.repeat(200));
    const err = await rejectsWith(openSqliteStore({ dataDir: dir }), ErrorCodes.DATA_CORRUPT);
    assert.ok(err.message.includes(file), err.message);
    assert.match(err.message, /move .* aside/);
    assert.doesNotMatch(err.message, /\n/);
  });

  it('reports a database from a newer schema version as DATA_CORRUPT', async () => {
    const dir = dataDir();
    await (await openSqliteStore({ dataDir: dir })).close();
    const db = new Database(join(dir, DATABASE_FILE));
    db.prepare("UPDATE meta SET value = 99 WHERE name = 'schema_version'").run();
    db.close();
    const err = await rejectsWith(openSqliteStore({ dataDir: dir }), ErrorCodes.DATA_CORRUPT);
    assert.match(err.message, /schema version 99/);
    assert.match(err.message, /newer Trellis/);
  });

  it('reports a SQLite database that is not a Trellis store as DATA_CORRUPT', async () => {
    const dir = dataDir();
    await (await openSqliteStore({ dataDir: dir })).close();
    rmSync(join(dir, DATABASE_FILE));
    const db = new Database(join(dir, DATABASE_FILE));
    db.exec('CREATE TABLE something_else (x TEXT)');
    db.close();
    const err = await rejectsWith(openSqliteStore({ dataDir: dir }), ErrorCodes.DATA_CORRUPT);
    assert.match(err.message, /not a Trellis store/);
  });

  it('reports a data dir under a regular file as DATA_DIR, in one line naming the path and the fix', async () => {
    const base = dataDir();
    await (await openSqliteStore({ dataDir: base })).close();
    const file = join(base, 'a-file');
    writeFileSync(file, 'not a directory');
    const target = join(file, 'data');
    const err = await rejectsWith(openSqliteStore({ dataDir: target }), ErrorCodes.DATA_DIR);
    assert.ok(err.message.includes(target), err.message);
    assert.match(err.message, /ENOTDIR/);
    assert.match(err.message, /--data-dir/);
    assert.doesNotMatch(err.message, /\n/);

    const asFile = await rejectsWith(openSqliteStore({ dataDir: file }), ErrorCodes.DATA_DIR);
    assert.match(asFile.message, /not a directory/);
  });

  it('reports a data dir it may not write as DATA_DIR', { skip: process.getuid?.() === 0 ? 'root may write anywhere' : false }, async () => {
    const dir = dataDir();
    mkdirSync(dir);
    chmodSync(dir, 0o500);
    try {
      const err = await rejectsWith(openSqliteStore({ dataDir: dir }), ErrorCodes.DATA_DIR);
      assert.match(err.message, /permission denied/);
    } finally {
      chmodSync(dir, 0o700);
    }
  });
});
