import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EndpointSet } from '../../src/balancer/index.js';
import { endpoint, endpoints } from './fixtures.js';

describe('EndpointSet', () => {
  it('keeps state by id across updates and starts fresh state for new ids', () => {
    let created = 0;
    const set = new EndpointSet(() => ({ n: ++created }));
    set.update(endpoints({ a: 1, b: 1 }));
    const a = set.live[0].state;
    set.update([endpoint('c'), { ...endpoint('a'), address: '10.9.9.9' }]);
    assert.deepEqual(set.live.map((e) => e.endpoint.id), ['c', 'a']);
    assert.equal(set.live[1].state, a);
    assert.equal(set.live[1].endpoint.address, '10.9.9.9');
    assert.equal(created, 3);
  });

  it('keeps the state of a drained endpoint for when it comes back', () => {
    const set = new EndpointSet(() => ({ hits: 0 }));
    set.update(endpoints({ a: 1 }));
    set.live[0].state.hits = 5;
    set.update(endpoints({ a: 0 }));
    assert.equal(set.live.length, 0);
    set.update(endpoints({ a: 2 }));
    assert.equal(set.live[0].state.hits, 5);
  });

  it('says why nothing can be picked', () => {
    const set = new EndpointSet(() => undefined);
    assert.equal(set.unavailable(undefined), 'empty');
    set.update(endpoints({ a: 0, b: 0 }));
    assert.equal(set.unavailable(undefined), 'all-drained');
    set.update(endpoints({ a: 1, b: 0, c: 1 }));
    assert.equal(set.unavailable(undefined), undefined);
    assert.equal(set.unavailable(new Set(['a'])), undefined);
    assert.equal(set.unavailable(new Set(['a', 'b'])), undefined);
    assert.equal(set.unavailable(new Set(['a', 'c'])), 'all-excluded');
    assert.equal(set.unavailable(new Set(['a', 'b', 'c', 'zzz'])), 'all-excluded');
  });

  it('lists excluded live slots in ascending order, ignoring unknown and drained ids', () => {
    const set = new EndpointSet(() => undefined);
    set.update(endpoints({ a: 1, b: 0, c: 1, d: 1 }));
    assert.deepEqual(set.excludedSlots(new Set(['d', 'b', 'x', 'a'])), [0, 2]);
    assert.deepEqual(set.excludedSlots(undefined), []);
  });

  it('rejects duplicate ids, empty ids and bad weights, naming the field', () => {
    const set = new EndpointSet(() => undefined);
    assert.throws(() => set.update([endpoint('a'), endpoint('a')]), { code: 'TRELLIS_ERR_VALIDATION', field: 'endpoints.1.id' });
    assert.throws(() => set.update([endpoint('')]), { field: 'endpoints.0.id' });
    for (const weight of [-1, Number.POSITIVE_INFINITY, Number.NaN]) {
      assert.throws(() => set.update([endpoint('a'), endpoint('b', weight)]), { field: 'endpoints.1.weight' });
    }
  });
});
