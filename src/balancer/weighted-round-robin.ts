/**
 * `weighted-round-robin`: nginx's smooth weighted round-robin. Each pick, every
 * eligible endpoint's `current` grows by its weight; the endpoint with the largest
 * `current` is picked and pays back the total weight. For weights 5:1:1 this gives
 * a a b a c a a — the heavy endpoint's turns are spread out, not bunched.
 * O(n) per pick; `current` survives updates for endpoints that stay.
 */
import { EndpointSet, type Entry } from './endpoint-set.js';
import { none, picked } from './result.js';
import { defineStrategy } from './strategy.js';
import type { Endpoint, PickContext, PickResult } from './types.js';

interface Credit {
  current: number;
}

export const weightedRoundRobin = defineStrategy({
  name: 'weighted-round-robin',
  summary: "nginx's smooth weighted round-robin: turns in proportion to weight, evenly spread.",
  config: {},
  create() {
    const endpoints = new EndpointSet<Credit>(() => ({ current: 0 }));

    return {
      update(list: readonly Endpoint[]): void {
        endpoints.update(list);
      },

      pick(context: PickContext = {}): PickResult {
        const { exclude } = context;
        const reason = endpoints.unavailable(exclude);
        if (reason !== undefined) return none(reason);
        let best: Entry<Credit> | undefined;
        let total = 0;
        for (const entry of endpoints.live) {
          if (exclude !== undefined && exclude.has(entry.endpoint.id)) continue;
          entry.state.current += entry.endpoint.weight;
          total += entry.endpoint.weight;
          if (best === undefined || entry.state.current > best.state.current) best = entry;
        }
        // unavailable() returned undefined, so the loop saw at least one entry.
        const chosen = best as Entry<Credit>;
        chosen.state.current -= total;
        return picked(chosen.endpoint);
      },
    };
  },
});
