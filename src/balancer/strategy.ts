/**
 * A strategy = a name, a config schema and a factory. `defineStrategy` turns that
 * into a {@link Strategy}: config is validated once (errors name the field), given
 * its defaults, frozen, and bound into a {@link BalancerFactory}.
 */
import { z } from 'zod';
import { ErrorCodes, TrellisError } from '../errors.js';
import { durationField, integerField, joinPath, validationError } from '../util/validation.js';
import type { Balancer, BalancerOptions, BalancerRuntime } from './types.js';

/** A load-balancing strategy, as registered by name. */
export interface Strategy {
  /** Registry name, e.g. `least-request`. */
  readonly name: string;
  /** One line for docs and `--help`. */
  readonly summary: string;
  /** True for consistent-hashing strategies: a request without a hash key is placed at random. */
  readonly hashesOnKey: boolean;
  /**
   * Validate raw config (`undefined` = all defaults) and bind it.
   * @param field where the config sits in the caller's document, for error messages.
   * @throws TrellisError VALIDATION naming the offending field, e.g. `config.tableSize`.
   */
  configure(config?: unknown, field?: string): BalancerFactory;
}

/** A strategy with validated config: makes one balancer per upstream cluster. */
export interface BalancerFactory {
  readonly strategy: string;
  /** The validated config with defaults filled in (frozen), e.g. for an admin endpoint. */
  readonly config: Readonly<Record<string, unknown>>;
  create(options?: BalancerOptions): Balancer;
}

/** A cross-field rule: return the problem, or undefined when the config is fine. */
export type ConfigCheck<C> = (config: C) => { field: string; message: string } | undefined;

export interface StrategyDefinition<Shape extends z.ZodRawShape> {
  readonly name: string;
  readonly summary: string;
  /** The config fields; unknown fields are rejected. Use `.default()` for defaults. */
  readonly config: Shape;
  readonly check?: ConfigCheck<StrategyConfig<Shape>>;
  /** Consistent hashing: placement follows each request's hash key (default false). */
  readonly hashesOnKey?: boolean;
  create(config: StrategyConfig<Shape>, runtime: BalancerRuntime): Balancer;
}

/** The validated config type of a strategy with config fields `Shape`. */
export type StrategyConfig<Shape extends z.ZodRawShape> = Readonly<z.output<z.ZodObject<Shape, 'strict'>>>;

/**
 * Make a {@link Strategy} from its name, config fields and factory. The config is
 * validated once per `configure` call; `create` only ever sees valid, frozen config.
 */
export function defineStrategy<Shape extends z.ZodRawShape>(definition: StrategyDefinition<Shape>): Strategy {
  const schema = z.object(definition.config, {
    invalid_type_error: `${definition.name} config must be an object`,
  }).strict();
  const accepted = Object.keys(definition.config);
  const unknownField = (key: string) => `unknown field ${JSON.stringify(key)} in ${definition.name} config: remove it (${
    accepted.length === 0 ? 'it takes no config fields' : `it accepts ${accepted.join(', ')}`})`;
  return Object.freeze({
    name: definition.name,
    summary: definition.summary,
    hashesOnKey: definition.hashesOnKey ?? false,
    configure(raw: unknown = {}, field = 'config'): BalancerFactory {
      const result = schema.safeParse(raw);
      if (!result.success) throw validationError(result.error, field, unknownField);
      const config: StrategyConfig<Shape> = Object.freeze(result.data);
      const problem = definition.check?.(config);
      if (problem !== undefined) {
        throw new TrellisError(ErrorCodes.VALIDATION, problem.message, { field: joinPath(field, problem.field) });
      }
      return Object.freeze({
        strategy: definition.name,
        config,
        create: (options: BalancerOptions = {}) => definition.create(config, withDefaults(options)),
      });
    },
  });
}

function withDefaults(options: BalancerOptions): BalancerRuntime {
  return {
    random: options.random ?? Math.random,
    now: options.now ?? (() => performance.now()),
  };
}

export { durationField, integerField, joinPath, validationError };
