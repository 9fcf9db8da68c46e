/**
 * The TTL side of health on a controlled clock: the embedded store's leases, the registry's
 * timestamps, the TTL monitor and the critical reaper all read one ManualClock, so a missed
 * heartbeat is asserted at its exact boundary (alive at ttl - 1 ms, critical at ttl) and so
 * is deregistration (present at deregisterCriticalAfter - 1 ms, gone at it). The store is a
 * real SQLite store on disk; only time is the test's. Process-level expiry (a real sidecar
 * missing real heartbeats) is the e2e tier: test/control-plane, test/proxy.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startCriticalReaper, type CriticalReaper } from '../../src/health/critical-reaper.js';
import { startTtlMonitor } from '../../src/health/ttl-monitor.js';
import { Registry } from '../../src/registry/registry.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { KvStore } from '../../src/store/types.js';
import type { Follower } from '../../src/util/follow.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitFor } from '../helpers/wait.js';

const TTL_MS = 10_000;
const DEREGISTER_AFTER_MS = 60_000;
/** The reaper's sweep period on the clock: the deadlines below fall on a sweep. */
const SWEEP_MS = 250;

describe('TTL expiry and deregistration on an injected clock', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-ttl-'));
  const clock = new ManualClock();
  const logger = pino({ level: 'silent' });
  let store: KvStore & { close(): Promise<void> | void };
  let registry: Registry;
  let monitor: Follower;
  let reaper: CriticalReaper;

  before(async () => {
    store = await openSqliteStore({ dataDir: dir, now: () => clock.monotonic() });
    registry = new Registry(store, { now: () => clock.now() });
    monitor = await startTtlMonitor(registry, logger, clock);
    reaper = await startCriticalReaper(registry, logger, SWEEP_MS, clock);
  });

  after(async () => {
    reaper.close();
    monitor.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const remaining = async (service: string, id: string): Promise<number | undefined> => {
    const { lease } = await registry.get(service, id);
    return lease === null ? undefined : (await store.leaseInfo(lease))?.remainingMs;
  };

  it('a missed heartbeat: passing at ttl - 1 ms, critical at ttl; a heartbeat restarts the whole ttl', async () => {
    await registry.register('web', 'w1', { address: '127.0.0.1', port: 8080, ttl: TTL_MS, deregisterCriticalAfter: DEREGISTER_AFTER_MS });
    await clock.advance(4_000);
    assert.equal(await remaining('web', 'w1'), TTL_MS - 4_000);
    await registry.heartbeat('web', 'w1');
    assert.equal(await remaining('web', 'w1'), TTL_MS, 'a heartbeat gives the lease its whole ttl again');

    await clock.advance(TTL_MS - 1);
    assert.equal(await remaining('web', 'w1'), 1, 'alive 1 ms before the deadline');
    assert.equal((await registry.get('web', 'w1')).status, 'passing');

    await clock.advance(1);
    // The store notices expired leases on its own sweep (every 50 ms of real time); nothing else moves the clock.
    const critical = await waitFor('the ttl check to go critical', async () => {
      const instance = await registry.get('web', 'w1');
      return instance.status === 'critical' ? instance : undefined;
    });
    assert.equal(critical.criticalSince, new Date(clock.now()).toISOString(), 'critical since the exact expiry');
    assert.equal(clock.now() - Date.UTC(2026, 0, 1), 4_000 + TTL_MS);
  });

  it('critical for deregisterCriticalAfter: present 1 ms before, deregistered at it', async () => {
    const since = Date.parse((await registry.get('web', 'w1')).criticalSince ?? '');
    const deadline = since + DEREGISTER_AFTER_MS;
    assert.equal((deadline - Date.UTC(2026, 0, 1)) % SWEEP_MS, 0, 'the deadline falls on a sweep');

    await clock.advance(deadline - clock.now() - 1);
    // A sweep decides synchronously that nothing is due: no sweep up to here deregistered it.
    assert.equal((await registry.get('web', 'w1')).status, 'critical');

    await clock.advance(1);
    await waitFor('the instance to be deregistered', async () => {
      try {
        await registry.get('web', 'w1');
        return false;
      } catch (err) {
        return (err as { code?: string }).code === 'TRELLIS_ERR_INSTANCE_NOT_FOUND';
      }
    });
  });
});
