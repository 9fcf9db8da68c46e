/**
 * `least-request`: power of d random choices on requests in flight, as Envoy's
 * least_request. Candidates are drawn in proportion to weight and compared by
 * in-flight requests per unit of weight, so an endpoint of weight 3 is "as busy"
 * as one of weight 1 only when it has three times the requests in flight. With
 * equal weights this is exactly the classic unweighted P2C.
 */
import { choiceCountField, createChoiceBalancer } from './choice.js';
import type { Entry } from './endpoint-set.js';
import type { InFlight } from './result.js';
import { defineStrategy } from './strategy.js';

function load(entry: Entry<InFlight>): number {
  return entry.state.inFlight / entry.endpoint.weight;
}

export const leastRequest = defineStrategy({
  name: 'least-request',
  summary: 'Power of two random choices on requests in flight, weighted (Envoy least_request).',
  config: { choiceCount: choiceCountField },
  create({ choiceCount }, runtime) {
    return createChoiceBalancer<InFlight>({ choiceCount, initialState: () => ({ inFlight: 0 }), cost: load }, runtime);
  },
});
