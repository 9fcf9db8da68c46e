/**
 * The load-balancer contract. A {@link Balancer} is told the current endpoint set
 * (`update`) and asked for one endpoint per request (`pick`). Picking never throws:
 * "nothing to pick" is a value ({@link NoPick}), like grpc-js's picker results.
 */

/** One instance a request may be sent to, as the registry reports it. */
export interface Endpoint {
  /** Stable identity; per-endpoint state (in-flight counts, latency estimates) is keyed on it. */
  readonly id: string;
  readonly address: string;
  readonly port: number;
  /** Relative share of traffic. 0 = drained: kept in the set but never picked. */
  readonly weight: number;
  readonly metadata: Readonly<Record<string, string>>;
}

/** What a pick may depend on. */
export interface PickContext {
  /** Key for the hashing strategies (a user id, a session cookie…). Other strategies ignore it. */
  readonly hashKey?: string;
  /** Ids that must not be picked: outlier-ejected endpoints, endpoints this request already tried. */
  readonly exclude?: ReadonlySet<string>;
}

/** How a request that was sent to a picked endpoint ended. */
export interface RequestResult {
  /** Time from sending the request to its completion. */
  readonly latencyMs: number;
  /** The one verdict of the response classifier. */
  readonly success: boolean;
}

/** Why no endpoint could be picked. */
export type NoPickReason =
  /** The set has no endpoints at all. */
  | 'empty'
  /** Every endpoint has weight 0. */
  | 'all-drained'
  /** Some endpoints could take traffic, but all of them are in `exclude`. */
  | 'all-excluded';

export interface Picked {
  readonly kind: 'pick';
  readonly endpoint: Endpoint;
  /**
   * Report how the request ended. Call it exactly once per pick (later calls are
   * ignored); least-request and peak-EWMA depend on it to count in-flight requests
   * and to learn latencies.
   */
  done(result: RequestResult): void;
}

export interface NoPick {
  readonly kind: 'none';
  readonly reason: NoPickReason;
}

export type PickResult = Picked | NoPick;

/** A load balancer for one upstream cluster. Not shared between clusters. */
export interface Balancer {
  /**
   * Replace the endpoint set (called whenever the registry watch reports a change).
   * State of endpoints that stay in the set, matched by id, is kept.
   * Throws TrellisError VALIDATION for duplicate ids or weights that are not finite numbers ≥ 0,
   * leaving the previous set in place.
   */
  update(endpoints: readonly Endpoint[]): void;
  /** Choose an endpoint for one request. Never throws. */
  pick(context?: PickContext): PickResult;
}

/** Sources of non-determinism, injectable so that tests and benchmarks are reproducible. */
export interface BalancerOptions {
  /** Uniform in [0, 1). Default: Math.random. */
  readonly random?: () => number;
  /** Monotonic milliseconds. Default: performance.now. */
  readonly now?: () => number;
}

/** {@link BalancerOptions} with the defaults filled in; what strategies receive. */
export type BalancerRuntime = Required<BalancerOptions>;
