/**
 * The balancer shared by the consistent-hashing strategies (ring-hash, maglev).
 * A strategy only supplies how to build its lookup table; this module does the
 * rest: key hashing, stepping past excluded endpoints, and the random fallback
 * for requests without a key.
 */
import { EndpointSet } from './endpoint-set.js';
import { hashKey } from './hash.js';
import { none, picked } from './result.js';
import { WeightedSampler } from './sampler.js';
import type { Balancer, BalancerRuntime, Endpoint, PickContext, PickResult } from './types.js';

/** A table from key hash to endpoint, built for one set of live endpoints. */
export interface HashTable {
  /** For each table slot, the index (in the id-sorted endpoints it was built from) of its owner. */
  readonly owners: Uint32Array;
  /** The table slot a 32-bit key hash lands in. */
  slotOf(keyHash: number): number;
}

/**
 * Builds the table for the live endpoints (all have weight > 0; at least one),
 * given sorted by id; owners are indices into that array.
 */
export type HashTableBuilder = (endpoints: readonly Endpoint[]) => HashTable;

const EMPTY_TABLE: HashTable = { owners: new Uint32Array(0), slotOf: () => 0 };

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A balancer that sends each hash key to the endpoint owning the key's slot.
 * When that endpoint is excluded, the next slots are tried in order, so a key's
 * fallback endpoint is as stable as its first choice. Without a hash key a
 * request goes to a weighted random endpoint. The table depends only on the set
 * (ids and weights), not on the order an update lists it in, so every proxy with
 * the same set sends a key to the same endpoint.
 */
export function createHashingBalancer(build: HashTableBuilder, { random }: BalancerRuntime): Balancer {
  const endpoints = new EndpointSet<undefined>(() => undefined);
  let table = EMPTY_TABLE;
  /** The live endpoints in id order, which is what the table's owners index. */
  let ordered: readonly Endpoint[] = [];
  let sampler = new WeightedSampler([]);

  return {
    update(list: readonly Endpoint[]): void {
      endpoints.update(list);
      const live = endpoints.live;
      ordered = live.map((e) => e.endpoint).sort((a, b) => compareIds(a.id, b.id));
      table = ordered.length === 0 ? EMPTY_TABLE : build(ordered);
      sampler = new WeightedSampler(live.map((e) => e.endpoint.weight));
    },

    pick(context: PickContext = {}): PickResult {
      const { hashKey: key, exclude } = context;
      const reason = endpoints.unavailable(exclude);
      if (reason !== undefined) return none(reason);
      const live = endpoints.live;
      if (key === undefined) return picked(live[sampler.draw(random, endpoints.excludedSlots(exclude))].endpoint);
      const { owners } = table;
      const first = table.slotOf(hashKey(key));
      for (let step = 0; step < owners.length; step++) {
        const endpoint = ordered[owners[(first + step) % owners.length]];
        if (exclude === undefined || !exclude.has(endpoint.id)) return picked(endpoint);
      }
      // Only reachable if the table omits some live endpoint (a table smaller than the set).
      return picked(live[sampler.draw(random, endpoints.excludedSlots(exclude))].endpoint);
    },
  };
}
