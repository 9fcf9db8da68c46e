/**
 * Strategies by name. A registry is immutable: build your own with
 * {@link createStrategyRegistry} (e.g. `[...builtinStrategies, myStrategy]`) rather
 * than registering into a global. The built-in list below is the one place that
 * names every strategy.
 */
import { z } from 'zod';
import { ErrorCodes, TrellisError } from '../errors.js';
import { leastRequest } from './least-request.js';
import { maglev } from './maglev.js';
import { peakEwma } from './peak-ewma.js';
import { ringHash } from './ring-hash.js';
import { roundRobin } from './round-robin.js';
import { joinPath, validationError, type BalancerFactory, type Strategy } from './strategy.js';
import { weightedRoundRobin } from './weighted-round-robin.js';

export const builtinStrategies: readonly Strategy[] = Object.freeze([
  roundRobin,
  weightedRoundRobin,
  leastRequest,
  peakEwma,
  ringHash,
  maglev,
]);

export interface StrategyRegistry {
  /** Registered names, in registration order. */
  readonly names: readonly string[];
  get(name: string): Strategy | undefined;
  /**
   * Validate a balancer spec `{ strategy: "<name>", config?: {…} }` and bind it.
   * @param field where the spec sits in the caller's document (`routes.0.balancer`), for error messages.
   * @throws TrellisError VALIDATION naming the field (`strategy`, `config.choiceCount`, …).
   */
  configure(spec: unknown, field?: string): BalancerFactory;
}

/** @throws TrellisError VALIDATION when two strategies share a name. */
export function createStrategyRegistry(list: readonly Strategy[]): StrategyRegistry {
  const byName = new Map<string, Strategy>();
  list.forEach((strategy, index) => {
    if (byName.has(strategy.name)) {
      throw new TrellisError(ErrorCodes.VALIDATION, `two strategies are named ${JSON.stringify(strategy.name)}: names must be unique`, {
        field: `strategies.${index}.name`,
      });
    }
    byName.set(strategy.name, strategy);
  });
  const names = Object.freeze([...byName.keys()]);
  const known = names.map((n) => JSON.stringify(n)).join(', ');
  const specSchema = z.object({
    strategy: z.string({
      required_error: `strategy is required: one of ${known}`,
      invalid_type_error: `strategy must be a string: one of ${known}`,
    }),
    config: z.unknown().optional(),
  }, { invalid_type_error: 'a balancer must be an object such as {"strategy":"round-robin"}' }).strict();

  return Object.freeze({
    names,
    get: (name: string) => byName.get(name),
    configure(spec: unknown, field = ''): BalancerFactory {
      const parsed = specSchema.safeParse(spec);
      if (!parsed.success) {
        throw validationError(parsed.error, field, (key) => `unknown field ${JSON.stringify(key)} in a balancer: it takes "strategy" and "config"`);
      }
      const strategy = byName.get(parsed.data.strategy);
      if (strategy === undefined) {
        throw new TrellisError(ErrorCodes.VALIDATION, `unknown load-balancing strategy ${JSON.stringify(parsed.data.strategy)}: use one of ${known}`, {
          field: joinPath(field, 'strategy'),
        });
      }
      return strategy.configure(parsed.data.config, joinPath(field, 'config'));
    },
  });
}

/** The built-in strategies. */
export const strategies: StrategyRegistry = createStrategyRegistry(builtinStrategies);
