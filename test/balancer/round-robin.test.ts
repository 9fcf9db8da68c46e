import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { roundRobin } from '../../src/balancer/index.js';
import { endpoints, pickedId, seededRandom } from './fixtures.js';

function balancer(seed = 7) {
  return roundRobin.configure().create({ random: seededRandom(seed) });
}

function sequence(b: ReturnType<typeof balancer>, n: number, exclude?: ReadonlySet<string>): string[] {
  return Array.from({ length: n }, () => pickedId(b, exclude === undefined ? undefined : { exclude }));
}

describe('round-robin', () => {
  it('rotates through endpoints of equal weight: every window of n picks has each endpoint once', () => {
    const b = balancer();
    b.update(endpoints({ a: 1, b: 1, c: 1 }));
    const seq = sequence(b, 30);
    for (let i = 0; i + 3 <= seq.length; i += 3) assert.deepEqual([...seq.slice(i, i + 3)].sort(), ['a', 'b', 'c']);
    // A rotation: the order repeats.
    assert.deepEqual(seq.slice(3, 6), seq.slice(0, 3));
  });

  it('starts the rotation at a random endpoint (so proxies starting together spread out)', () => {
    const firsts = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) {
      const b = balancer(seed);
      b.update(endpoints({ a: 1, b: 1, c: 1 }));
      firsts.add(pickedId(b));
    }
    assert.deepEqual([...firsts].sort(), ['a', 'b', 'c']);
  });

  it('gives each period of total weight exactly the weighted number of turns (1:2:3)', () => {
    const b = balancer();
    b.update(endpoints({ a: 1, b: 2, c: 3 }));
    const seq = sequence(b, 60);
    for (let i = 0; i < 60; i += 6) {
      const window = seq.slice(i, i + 6);
      assert.deepEqual(['a', 'b', 'c'].map((id) => window.filter((x) => x === id).length), [1, 2, 3], window.join(' '));
    }
  });

  it('skips an excluded endpoint (it loses that turn) and resumes it afterwards', () => {
    const b = balancer();
    b.update(endpoints({ a: 1, b: 1, c: 1 }));
    const excluded = sequence(b, 20, new Set(['b']));
    assert.ok(!excluded.includes('b'));
    assert.equal(excluded.filter((x) => x === 'a').length, 10);
    const after = sequence(b, 30);
    assert.deepEqual(['a', 'b', 'c'].map((id) => after.filter((x) => x === id).length), [10, 10, 10]);
  });

  it('lets an endpoint back from being drained rejoin without a burst of catch-up turns', () => {
    const b = balancer();
    b.update(endpoints({ a: 1, b: 1, c: 1 }));
    sequence(b, 3);
    b.update(endpoints({ a: 1, b: 0, c: 1 }));
    sequence(b, 100);
    b.update(endpoints({ a: 1, b: 1, c: 1 }));
    const seq = sequence(b, 6);
    assert.ok(seq.filter((x) => x === 'b').length <= 3, seq.join(' '));
    assert.ok(!seq.slice(0, 3).every((x) => x === 'b'), seq.join(' '));
  });

  it('keeps the rotation of endpoints that stay across an update', () => {
    const b = balancer();
    b.update(endpoints({ a: 1, b: 1, c: 1 }));
    const before = sequence(b, 4);
    b.update(endpoints({ a: 1, b: 1, c: 1 }));
    assert.deepEqual(sequence(b, 2), before.slice(1, 3));
  });

  it('takes no config', () => {
    assert.throws(() => roundRobin.configure({ weights: true }), { code: 'TRELLIS_ERR_VALIDATION', field: 'config.weights' });
  });
});
