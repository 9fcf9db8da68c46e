/**
 * `ring-hash`: consistent hashing on a ring (Karger et al.), sized as Envoy's
 * ring_hash. Each endpoint is placed on a 32-bit ring at a number of points
 * proportional to its weight; a key goes to the first point at or after its hash.
 *
 * Ring size follows Envoy: the lightest endpoint gets ⌈its share × minimumRingSize⌉
 * points and the others proportionally more, capped at maximumRingSize. An
 * endpoint's points are a prefix of one hash stream of its id, so when it gains
 * points its old ones stay put. Removing one of n equal endpoints moves its own
 * keys (1/n), plus the keys claimed by the points the others gain as the ring is
 * rescaled to keep its minimum size (up to about 1/n more; none once n is large
 * next to minimumRingSize). Maglev moves fewer.
 */
import { hashPoints } from './hash.js';
import type { Endpoint } from './types.js';
import { createHashingBalancer, type HashTable } from './hashing.js';
import { defineStrategy, integerField } from './strategy.js';

/** Envoy's upper bound for either ring size. */
const RING_SIZE_LIMIT = 8_388_608;
/** Points are sorted as `point × OWNER_SPACE + owner`, which stays exact below 2^53. */
const OWNER_SPACE = 2 ** 21;

/** How many points each endpoint gets (always at least one). */
export function pointCounts(weights: readonly number[], minimumRingSize: number, maximumRingSize: number): number[] {
  const total = weights.reduce((sum, w) => sum + w, 0);
  const smallestShare = weights.reduce((min, w) => Math.min(min, w), Infinity) / total;
  const scale = Math.min(Math.ceil(smallestShare * minimumRingSize) / smallestShare, maximumRingSize);
  return weights.map((w) => Math.max(1, Math.round((scale * w) / total)));
}

function buildRing(endpoints: readonly Endpoint[], minimumRingSize: number, maximumRingSize: number): HashTable {
  const counts = pointCounts(endpoints.map((e) => e.weight), minimumRingSize, maximumRingSize);
  const keys = new Float64Array(counts.reduce((sum, c) => sum + c, 0));
  let next = 0;
  endpoints.forEach((endpoint, owner) => {
    for (const point of hashPoints(endpoint.id, counts[owner])) keys[next++] = point * OWNER_SPACE + owner;
  });
  keys.sort();
  const points = new Uint32Array(keys.length);
  const owners = new Uint32Array(keys.length);
  keys.forEach((key, i) => {
    owners[i] = key % OWNER_SPACE;
    points[i] = (key - owners[i]) / OWNER_SPACE;
  });
  return {
    owners,
    slotOf(keyHash: number): number {
      // The first point ≥ keyHash, wrapping past the top of the ring to the first point.
      let lo = 0;
      let hi = points.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (points[mid] < keyHash) lo = mid + 1;
        else hi = mid;
      }
      return lo === points.length ? 0 : lo;
    },
  };
}

export const ringHash = defineStrategy({
  name: 'ring-hash',
  hashesOnKey: true,
  summary: 'Consistent hashing on a ring with weighted points (Envoy ring_hash); random without a hash key.',
  config: {
    minimumRingSize: integerField('minimumRingSize', 1, RING_SIZE_LIMIT).default(1024),
    maximumRingSize: integerField('maximumRingSize', 1, RING_SIZE_LIMIT).default(RING_SIZE_LIMIT),
  },
  check: ({ minimumRingSize, maximumRingSize }) => minimumRingSize <= maximumRingSize ? undefined : {
    field: 'maximumRingSize',
    message: `maximumRingSize (${maximumRingSize}) must be at least minimumRingSize (${minimumRingSize})`,
  },
  create({ minimumRingSize, maximumRingSize }, runtime) {
    return createHashingBalancer((endpoints) => buildRing(endpoints, minimumRingSize, maximumRingSize), runtime);
  },
});
