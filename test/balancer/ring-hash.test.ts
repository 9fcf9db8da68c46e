import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ringHash } from '../../src/balancer/index.js';
import { pointCounts } from '../../src/balancer/ring-hash.js';
import { consistentHashingChecks } from './hashing-checks.js';

describe('ring-hash', () => {
  // Removing an endpoint moves its keys (1/n) and, as the ring is rescaled to keep its
  // minimum size, the keys the remaining endpoints' new points claim (under 1/n more).
  consistentHashingChecks(ringHash, 2);

  describe('ring size (as Envoy)', () => {
    it('gives the lightest endpoint ⌈share × minimumRingSize⌉ points and the others proportionally more', () => {
      assert.deepEqual(pointCounts([1, 1, 1], 1024, 8_388_608), [342, 342, 342]);
      assert.deepEqual(pointCounts([1, 2, 3], 1024, 8_388_608), [171, 342, 513]);
    });

    it('caps the ring at maximumRingSize, keeping at least one point per endpoint', () => {
      assert.deepEqual(pointCounts([1, 1], 1024, 100), [50, 50]);
      assert.deepEqual(pointCounts([1, 100_000], 16, 1_000), [1, 1_000]);
    });
  });

  it('validates its config', () => {
    assert.deepEqual(ringHash.configure().config, { minimumRingSize: 1024, maximumRingSize: 8_388_608 });
    assert.throws(() => ringHash.configure({ minimumRingSize: 0 }), { code: 'TRELLIS_ERR_VALIDATION', field: 'config.minimumRingSize' });
    assert.throws(() => ringHash.configure({ minimumRingSize: 4096, maximumRingSize: 1024 }), {
      field: 'config.maximumRingSize',
      message: 'maximumRingSize (1024) must be at least minimumRingSize (4096)',
    });
    assert.throws(() => ringHash.configure({ hashFunction: 'xx' }), { field: 'config.hashFunction', message: /accepts minimumRingSize, maximumRingSize/ });
  });
});
