/**
 * Load balancing: named strategies behind one interface.
 *
 *     const factory = strategies.configure({ strategy: 'peak-ewma', config: { decay: '10s' } });
 *     const balancer = factory.create();
 *     balancer.update(endpoints);                       // on every registry change
 *     const result = balancer.pick({ hashKey, exclude });
 *     if (result.kind === 'pick') { …send…; result.done({ latencyMs, success }); }
 */
export type {
  Balancer,
  BalancerOptions,
  BalancerRuntime,
  Endpoint,
  NoPick,
  NoPickReason,
  PickContext,
  Picked,
  PickResult,
  RequestResult,
} from './types.js';
export { defineStrategy, durationField, integerField } from './strategy.js';
export type { BalancerFactory, ConfigCheck, Strategy, StrategyConfig, StrategyDefinition } from './strategy.js';
export { builtinStrategies, createStrategyRegistry, strategies } from './registry.js';
export type { StrategyRegistry } from './registry.js';
export { roundRobin } from './round-robin.js';
export { weightedRoundRobin } from './weighted-round-robin.js';
export { leastRequest } from './least-request.js';
export { peakEwma } from './peak-ewma.js';
export { ringHash } from './ring-hash.js';
export { maglev } from './maglev.js';

// Building blocks for strategies defined outside this folder.
export { EndpointSet } from './endpoint-set.js';
export type { Entry } from './endpoint-set.js';
export { none, picked, trackedPick } from './result.js';
export type { InFlight } from './result.js';
