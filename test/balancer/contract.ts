/**
 * The contract every load-balancing strategy must meet (Hono-style shared suite):
 * distribution, weights, drained and excluded endpoints, empty sets and churn.
 * strategies.test.ts runs it against every registered strategy; a new strategy
 * passes it before it gets strategy-specific tests.
 *
 * Distribution checks run twice: without a hash key, and with a distinct hash key
 * per request (what consistent-hashing strategies balance on). Shares must be
 * within ±5 percentage points of the expected share over 10,000 requests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, TrellisError } from '../../src/errors.js';
import type { Balancer, PickContext, Strategy } from '../../src/balancer/index.js';
import { drive, endpoint, endpoints, manualClock, pickedId, seededRandom, share, type ManualClock } from './fixtures.js';

const REQUESTS = 10_000;
const TOLERANCE = 0.05;

interface Subject {
  balancer: Balancer;
  clock: ManualClock;
}

function assertShare(counts: Map<string, number>, id: string, n: number, expected: number): void {
  const actual = share(counts, id, n);
  assert.ok(
    Math.abs(actual - expected) <= TOLERANCE,
    `${id} got ${(actual * 100).toFixed(1)}% of ${n} picks, expected ${(expected * 100).toFixed(1)}% ± ${TOLERANCE * 100} (all: ${JSON.stringify([...counts])})`,
  );
}

const trafficModes: ReadonlyArray<{ name: string; context?: (i: number) => PickContext }> = [
  { name: 'without a hash key' },
  { name: 'with a distinct hash key per request', context: (i) => ({ hashKey: `request-${i}` }) },
];

export function balancerContract(strategy: Strategy, seed = 1): void {
  function subject(): Subject {
    const clock = manualClock(1_000);
    return { balancer: strategy.configure().create({ random: seededRandom(seed), now: clock.now }), clock };
  }

  for (const mode of trafficModes) {
    describe(mode.name, () => {
      const withExclude = (exclude: ReadonlySet<string>) => (i: number): PickContext => ({ ...mode.context?.(i), exclude });

      it('spreads traffic evenly over endpoints of equal weight', () => {
        const { balancer, clock } = subject();
        balancer.update(endpoints({ a: 1, b: 1, c: 1 }));
        const counts = drive(balancer, REQUESTS, { context: mode.context, clock });
        for (const id of ['a', 'b', 'c']) assertShare(counts, id, REQUESTS, 1 / 3);
      });

      it('gives traffic in proportion to weight (1:2:3)', () => {
        const { balancer, clock } = subject();
        balancer.update(endpoints({ a: 1, b: 2, c: 3 }));
        const counts = drive(balancer, REQUESTS, { context: mode.context, clock });
        assertShare(counts, 'a', REQUESTS, 1 / 6);
        assertShare(counts, 'b', REQUESTS, 2 / 6);
        assertShare(counts, 'c', REQUESTS, 3 / 6);
      });

      it('never picks a drained endpoint (weight 0)', () => {
        const { balancer, clock } = subject();
        balancer.update(endpoints({ a: 1, drained: 0, c: 1 }));
        const counts = drive(balancer, 2_000, { context: mode.context, clock });
        assert.equal(counts.get('drained'), undefined);
        assertShare(counts, 'a', 2_000, 1 / 2);
      });

      it('never picks an excluded endpoint, and spreads over the others', () => {
        const { balancer, clock } = subject();
        balancer.update(endpoints({ a: 1, b: 1, c: 1, d: 1 }));
        const counts = drive(balancer, REQUESTS, { context: withExclude(new Set(['b', 'unknown-id'])), clock });
        assert.equal(counts.get('b'), undefined);
        for (const id of ['a', 'c', 'd']) assertShare(counts, id, REQUESTS, 1 / 3);
      });

      it('follows the set as endpoints are added and removed', () => {
        const { balancer, clock } = subject();
        balancer.update(endpoints({ a: 1, b: 1, c: 1 }));
        drive(balancer, 1_000, { context: mode.context, clock });
        balancer.update(endpoints({ b: 1, c: 1, d: 1 }));
        const counts = drive(balancer, REQUESTS, { context: (i) => mode.context?.(i + 1_000) ?? {}, clock });
        assert.equal(counts.get('a'), undefined, 'a removed endpoint was picked');
        for (const id of ['b', 'c', 'd']) assertShare(counts, id, REQUESTS, 1 / 3);
        balancer.update(endpoints({ d: 1 }));
        const after = drive(balancer, 100, { context: mode.context, clock });
        assert.deepEqual([...after], [['d', 100]]);
      });
    });
  }

  it('returns none/empty before the first update and for an empty set', () => {
    const { balancer } = subject();
    assert.deepEqual(balancer.pick(), { kind: 'none', reason: 'empty' });
    balancer.update(endpoints({ a: 1 }));
    balancer.update([]);
    assert.deepEqual(balancer.pick({ hashKey: 'k' }), { kind: 'none', reason: 'empty' });
  });

  it('returns none/all-drained when every endpoint has weight 0', () => {
    const { balancer } = subject();
    balancer.update(endpoints({ a: 0, b: 0 }));
    assert.deepEqual(balancer.pick(), { kind: 'none', reason: 'all-drained' });
    assert.deepEqual(balancer.pick({ hashKey: 'k', exclude: new Set(['a']) }), { kind: 'none', reason: 'all-drained' });
  });

  it('returns none/all-excluded when every endpoint that could take traffic is excluded', () => {
    const { balancer } = subject();
    balancer.update(endpoints({ a: 1, b: 2, drained: 0 }));
    assert.deepEqual(balancer.pick({ exclude: new Set(['a', 'b']) }), { kind: 'none', reason: 'all-excluded' });
    assert.deepEqual(balancer.pick({ hashKey: 'k', exclude: new Set(['b', 'a', 'x']) }), { kind: 'none', reason: 'all-excluded' });
    // Excluding does not stick: the next pick without exclusions succeeds.
    assert.ok(['a', 'b'].includes(pickedId(balancer)));
  });

  it('picks the only endpoint left when the others are excluded or drained', () => {
    const { balancer } = subject();
    balancer.update(endpoints({ a: 1, b: 5, c: 0, d: 3 }));
    for (let i = 0; i < 50; i++) assert.equal(pickedId(balancer, { hashKey: `k${i}`, exclude: new Set(['a', 'd']) }), 'b');
  });

  it('brings a drained endpoint back when its weight returns', () => {
    const { balancer, clock } = subject();
    balancer.update(endpoints({ a: 1, b: 0 }));
    drive(balancer, 100, { clock });
    balancer.update(endpoints({ a: 1, b: 1 }));
    const counts = drive(balancer, 2_000, { clock });
    assertShare(counts, 'b', 2_000, 1 / 2);
  });

  it('rejects an invalid update with TrellisError VALIDATION and keeps the previous set', () => {
    const { balancer } = subject();
    balancer.update(endpoints({ a: 1 }));
    assert.throws(() => balancer.update([endpoint('b'), endpoint('b')]), (err: unknown) =>
      err instanceof TrellisError && err.code === ErrorCodes.VALIDATION && err.field === 'endpoints.1.id');
    assert.throws(() => balancer.update([endpoint('b', -1)]), (err: unknown) =>
      err instanceof TrellisError && err.field === 'endpoints.0.weight');
    assert.throws(() => balancer.update([endpoint('b', Number.NaN)]), (err: unknown) =>
      err instanceof TrellisError && err.field === 'endpoints.0.weight');
    assert.equal(pickedId(balancer), 'a');
  });

  it('tolerates done() called twice, late, or for an endpoint that has since been removed', () => {
    const { balancer } = subject();
    balancer.update(endpoints({ a: 1, b: 1 }));
    const first = balancer.pick();
    assert.equal(first.kind, 'pick');
    balancer.update(endpoints({ c: 1 }));
    if (first.kind === 'pick') {
      first.done({ latencyMs: 5, success: false });
      first.done({ latencyMs: 5, success: false });
    }
    assert.equal(pickedId(balancer), 'c');
  });
}
