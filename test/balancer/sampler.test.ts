import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WeightedSampler } from '../../src/balancer/sampler.js';
import { seededRandom } from './fixtures.js';

function frequencies(sampler: WeightedSampler, skip: readonly number[], n = 60_000): number[] {
  const random = seededRandom(9);
  const counts = new Array<number>(sampler.size).fill(0);
  for (let i = 0; i < n; i++) counts[sampler.draw(random, skip)] += 1;
  return counts.map((c) => c / n);
}

function assertClose(actual: number[], expected: number[]): void {
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]) < 0.01, `index ${i}: ${a} vs ${expected[i]}`));
}

describe('WeightedSampler', () => {
  it('draws in proportion to weight', () => {
    assertClose(frequencies(new WeightedSampler([1, 2, 3, 4]), []), [0.1, 0.2, 0.3, 0.4]);
  });

  it('draws in proportion to weight among the indices not skipped', () => {
    assertClose(frequencies(new WeightedSampler([1, 2, 3, 4]), [1, 3]), [0.25, 0, 0.75, 0]);
    assertClose(frequencies(new WeightedSampler([5, 1, 1, 1, 5]), [0]), [0, 0.125, 0.125, 0.125, 0.625]);
  });

  it('handles fractional weights and draws at the very ends of [0, 1)', () => {
    const sampler = new WeightedSampler([0.1, 0.2, 0.3]);
    assert.equal(sampler.draw(() => 0, []), 0);
    assert.equal(sampler.draw(() => 0.999_999_999_999, []), 2);
    assert.equal(sampler.draw(() => 0.999_999_999_999, [2]), 1);
    assert.equal(sampler.draw(() => 0, [0]), 1);
    assert.equal(sampler.draw(() => 0.5, [0, 2]), 1);
  });
});
