/**
 * "Power of d choices", shared by least-request and peak-EWMA: draw d endpoints at
 * random and send the request to the cheapest; the strategies differ only in what
 * "cheap" means and in what they learn from finished requests.
 *
 * Candidates are drawn with replacement and in proportion to weight, and ties go
 * to the earliest draw (Envoy's choice). Two consequences the strategies rely on:
 * when costs are equal, or differ only by noise that favours nobody, traffic is
 * split exactly by weight; and even the most expensive endpoint is still tried
 * now and then (when it is drawn d times), so its cost is re-measured.
 */
import { EndpointSet, type Entry } from './endpoint-set.js';
import { none, trackedPick, type InFlight } from './result.js';
import { WeightedSampler } from './sampler.js';
import { integerField } from './strategy.js';
import type { Balancer, BalancerRuntime, Endpoint, PickContext, PickResult, RequestResult } from './types.js';

/** The `choiceCount` config field: how many candidates each pick compares (2 = "power of two choices"). */
export const choiceCountField = integerField('choiceCount', 2, 10).default(2);

export interface ChoicePolicy<S extends InFlight> {
  /** Candidates compared per pick. */
  readonly choiceCount: number;
  /** State for an endpoint seen for the first time. */
  initialState(endpoint: Endpoint): S;
  /** Lower is better. Must not change the state. */
  cost(entry: Entry<S>): number;
  /** Learn from a finished request (after its in-flight count was released). */
  observe?(state: S, result: RequestResult): void;
}

/** A balancer that picks the cheapest of `choiceCount` weighted random candidates. */
export function createChoiceBalancer<S extends InFlight>(policy: ChoicePolicy<S>, { random }: BalancerRuntime): Balancer {
  const endpoints = new EndpointSet<S>((endpoint) => policy.initialState(endpoint));
  let sampler = new WeightedSampler([]);
  const { choiceCount, cost } = policy;
  const observe = policy.observe?.bind(policy);

  return {
    update(list: readonly Endpoint[]): void {
      endpoints.update(list);
      sampler = new WeightedSampler(endpoints.live.map((e) => e.endpoint.weight));
    },

    pick(context: PickContext = {}): PickResult {
      const { exclude } = context;
      const reason = endpoints.unavailable(exclude);
      if (reason !== undefined) return none(reason);
      const live = endpoints.live;
      const skip = endpoints.excludedSlots(exclude);
      let best = live[sampler.draw(random, skip)];
      let bestCost = cost(best);
      for (let i = 1; i < choiceCount; i++) {
        const candidate = live[sampler.draw(random, skip)];
        const candidateCost = cost(candidate);
        if (candidateCost < bestCost) {
          best = candidate;
          bestCost = candidateCost;
        }
      }
      return trackedPick(best.endpoint, best.state, observe);
    },
  };
}
