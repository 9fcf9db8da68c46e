/**
 * `maglev`: Google's Maglev consistent hashing (Eisenbud et al., NSDI 2016), with
 * Envoy's weighting. A lookup table of prime size M is filled by letting endpoints
 * take turns claiming their next preferred free slot, each endpoint's preferences
 * being its own permutation of the slots (offset + j × skip mod M). A key goes to
 * table[hash mod M].
 *
 * Every endpoint owns M × its share of slots to within one slot, lookups are O(1),
 * and removing one endpoint moves its keys and only a few others. Endpoints claim
 * turns in proportion to weight. Keep M at least ~100 × the endpoint count: with
 * more endpoints than slots, some get no keys (and only keyless traffic).
 */
import { hashPoints } from './hash.js';
import type { Endpoint } from './types.js';
import { createHashingBalancer, type HashTable } from './hashing.js';
import { defineStrategy, integerField } from './strategy.js';

/** Envoy's upper bound for the table size. */
const TABLE_SIZE_LIMIT = 5_000_011;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** Fill the table: owners[slot] = index in `endpoints` of the endpoint owning the slot. */
export function populate(endpoints: readonly Endpoint[], tableSize: number): Uint32Array {
  const n = endpoints.length;
  const heaviest = endpoints.reduce((max, e) => Math.max(max, e.weight), 0);
  const share = endpoints.map((e) => e.weight / heaviest);
  const skip = new Uint32Array(n);
  const position = new Uint32Array(n);
  endpoints.forEach((endpoint, i) => {
    const [offsetHash, skipHash] = hashPoints(endpoint.id, 2);
    position[i] = offsetHash % tableSize;
    skip[i] = (skipHash % (tableSize - 1)) + 1;
  });
  const owners = new Uint32Array(tableSize);
  const taken = new Uint8Array(tableSize);
  const claimed = new Float64Array(n);
  let filled = 0;
  // In round r, an endpoint with share s (heaviest = 1) claims a slot if r × s ≥ its claims so far.
  for (let round = 0; filled < tableSize; round++) {
    for (let i = 0; i < n && filled < tableSize; i++) {
      if (round * share[i] < claimed[i]) continue;
      claimed[i] += 1;
      // Walk the endpoint's permutation (offset, offset + skip, … mod M) to its next free slot.
      const step = skip[i];
      let slot = position[i];
      while (taken[slot] === 1) {
        slot += step;
        if (slot >= tableSize) slot -= tableSize;
      }
      taken[slot] = 1;
      owners[slot] = i;
      slot += step;
      position[i] = slot >= tableSize ? slot - tableSize : slot;
      filled += 1;
    }
  }
  return owners;
}

export const maglev = defineStrategy({
  name: 'maglev',
  hashesOnKey: true,
  summary: "Google's Maglev consistent hashing: a prime-size lookup table, O(1) lookups; random without a hash key.",
  config: {
    tableSize: integerField('tableSize', 3, TABLE_SIZE_LIMIT)
      .refine(isPrime, (n) => ({ message: `tableSize must be a prime number such as 65537 or 5000011 (got ${n})` }))
      .default(65_537),
  },
  create({ tableSize }, runtime) {
    return createHashingBalancer((endpoints): HashTable => {
      const owners = populate(endpoints, tableSize);
      return { owners, slotOf: (keyHash) => keyHash % tableSize };
    }, runtime);
  },
});
