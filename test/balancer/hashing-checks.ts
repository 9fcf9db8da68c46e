/** Checks shared by the consistent-hashing strategies' own tests (ring-hash, maglev). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Balancer, Strategy } from '../../src/balancer/index.js';
import { endpoints, pickedId, seededRandom } from './fixtures.js';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `session-${i}`);

function owners(b: Balancer): string[] {
  return KEYS.map((hashKey) => pickedId(b, { hashKey }));
}

function equalWeights(ids: readonly string[]): Record<string, number> {
  return Object.fromEntries(ids.map((id) => [id, 1]));
}

/**
 * Consistency checks for a hashing strategy.
 * @param maxMovedFactor removing one of n endpoints may move at most maxMovedFactor / n of the keys.
 */
export function consistentHashingChecks(strategy: Strategy, maxMovedFactor: number): void {
  const ten = Array.from({ length: 10 }, (_, i) => `backend-${i}`);

  it('maps the same key to the same endpoint, on every pick and in every proxy', () => {
    const one = strategy.configure().create({ random: seededRandom(1) });
    const other = strategy.configure().create({ random: seededRandom(2) });
    one.update(endpoints(equalWeights(ten)));
    // Another proxy whose registry watch listed the same set in another order.
    other.update(endpoints(equalWeights([...ten].reverse())));
    const first = owners(one);
    assert.deepEqual(owners(one), first);
    assert.deepEqual(owners(other), first);
  });

  it(`moves only about 1/n of the keys when one of n endpoints is removed (at most ${maxMovedFactor}/n)`, () => {
    const b = strategy.configure().create();
    b.update(endpoints(equalWeights(ten)));
    const before = owners(b);
    const removed = 'backend-4';
    b.update(endpoints(equalWeights(ten.filter((id) => id !== removed))));
    const after = owners(b);
    let moved = 0;
    before.forEach((owner, i) => {
      if (owner !== after[i]) moved += 1;
      else assert.notEqual(owner, removed);
    });
    assert.ok(moved / KEYS.length <= maxMovedFactor / ten.length, `${moved} of ${KEYS.length} keys moved`);
    // Adding it back restores the original mapping exactly.
    b.update(endpoints(equalWeights(ten)));
    assert.deepEqual(owners(b), before);
  });

  it('sends a key whose endpoint is excluded to a stable second choice, and back when the exclusion ends', () => {
    const b = strategy.configure().create();
    b.update(endpoints(equalWeights(ten)));
    for (const hashKey of KEYS.slice(0, 200)) {
      const home = pickedId(b, { hashKey });
      const exclude = new Set([home]);
      const fallback = pickedId(b, { hashKey, exclude });
      assert.notEqual(fallback, home);
      assert.equal(pickedId(b, { hashKey, exclude }), fallback);
      assert.equal(pickedId(b, { hashKey }), home);
    }
  });

  it('gives keys in proportion to weight', () => {
    const b = strategy.configure().create();
    b.update(endpoints({ a: 1, b: 4 }));
    const counts = owners(b).filter((id) => id === 'b').length / KEYS.length;
    assert.ok(Math.abs(counts - 0.8) < 0.05, `weight 4 of 5 got ${counts}`);
  });
}
