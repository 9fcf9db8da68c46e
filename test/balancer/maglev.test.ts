import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maglev } from '../../src/balancer/index.js';
import { isPrime, populate } from '../../src/balancer/maglev.js';
import { endpoint, endpoints } from './fixtures.js';
import { consistentHashingChecks } from './hashing-checks.js';

function slotsPerOwner(owners: Uint32Array, n: number): number[] {
  const counts = new Array<number>(n).fill(0);
  for (const owner of owners) counts[owner] += 1;
  return counts;
}

describe('maglev', () => {
  // Maglev's disruption is close to the minimum: the removed endpoint's keys and very few others.
  consistentHashingChecks(maglev, 1.2);

  it('gives every endpoint of equal weight its table share to within one slot', () => {
    const set = Array.from({ length: 7 }, (_, i) => endpoint(`e${i}`));
    const counts = slotsPerOwner(populate(set, 65_537), 7);
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, counts.join(','));
  });

  it('gives slots in proportion to weight', () => {
    const counts = slotsPerOwner(populate(endpoints({ a: 1, b: 2, c: 3 }), 65_537), 3);
    assert.deepEqual(counts.map((c) => Math.round((c / 65_537) * 6)), [1, 2, 3]);
  });

  it('works with a small prime table', () => {
    const b = maglev.configure({ tableSize: 251 }).create();
    b.update(endpoints({ a: 1, b: 1 }));
    const r = b.pick({ hashKey: 'x' });
    assert.equal(r.kind, 'pick');
  });

  it('validates tableSize: a prime within Envoy\'s bounds', () => {
    assert.equal(maglev.configure().config['tableSize'], 65_537);
    assert.equal(maglev.configure({ tableSize: 5_000_011 }).config['tableSize'], 5_000_011);
    assert.throws(() => maglev.configure({ tableSize: 65_536 }), {
      code: 'TRELLIS_ERR_VALIDATION',
      field: 'config.tableSize',
      message: 'tableSize must be a prime number such as 65537 or 5000011 (got 65536)',
    });
    assert.throws(() => maglev.configure({ tableSize: 5_000_101 }), { field: 'config.tableSize' });
    assert.ok([2, 3, 65_537, 5_000_011].every(isPrime));
    assert.ok(![0, 1, 4, 65_535, 1.5].some(isPrime));
  });
});
