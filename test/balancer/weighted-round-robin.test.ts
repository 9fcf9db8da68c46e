import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { weightedRoundRobin } from '../../src/balancer/index.js';
import { endpoints, pickedId } from './fixtures.js';

function sequence(b: ReturnType<ReturnType<typeof weightedRoundRobin.configure>['create']>, n: number, exclude?: ReadonlySet<string>): string {
  return Array.from({ length: n }, () => pickedId(b, exclude === undefined ? undefined : { exclude })).join(' ');
}

describe('weighted-round-robin (smooth, as nginx)', () => {
  it('produces the nginx sequence for weights 5:1:1: a a b a c a a, repeated', () => {
    const b = weightedRoundRobin.configure().create();
    b.update(endpoints({ a: 5, b: 1, c: 1 }));
    assert.equal(sequence(b, 14), 'a a b a c a a a a b a c a a');
  });

  it('alternates evenly for equal weights', () => {
    const b = weightedRoundRobin.configure().create();
    b.update(endpoints({ a: 1, b: 1, c: 1 }));
    assert.equal(sequence(b, 6), 'a b c a b c');
  });

  it('keeps its position across an update that leaves the endpoints in place', () => {
    const b = weightedRoundRobin.configure().create();
    b.update(endpoints({ a: 5, b: 1, c: 1 }));
    const head = sequence(b, 3);
    b.update(endpoints({ a: 5, b: 1, c: 1 }));
    assert.equal(`${head} ${sequence(b, 4)}`, 'a a b a c a a');
  });

  it('spreads over the others while an endpoint is excluded', () => {
    const b = weightedRoundRobin.configure().create();
    b.update(endpoints({ a: 5, b: 1, c: 1 }));
    assert.equal(sequence(b, 6, new Set(['a'])), 'b c b c b c');
  });

  it('follows weight changes from the registry', () => {
    const b = weightedRoundRobin.configure().create();
    b.update(endpoints({ a: 1, b: 1 }));
    sequence(b, 2);
    b.update(endpoints({ a: 1, b: 3 }));
    const seq = sequence(b, 8).split(' ');
    assert.equal(seq.filter((x) => x === 'b').length, 6);
  });
});
