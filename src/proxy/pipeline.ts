/**
 * The one place that declares the order of the data path's layers.
 *
 *   outbound: [telemetry: propagate → observe (metrics, access log)] → [traffic routes: route match
 *             → local rate limit → fault → header changes → mirror] → timeout → retry → circuit breaker
 *             → outlier detection → balance (within the route's subset) → upstream
 *   inbound:  [telemetry: propagate → observe (metrics, access log)] → authorization (the service's
 *             policies) → app answer (no `trellis-error` from the app) → the local app (its own small pool)
 *
 * Layers are built once per sidecar and read their settings from each request's target
 * (its service's policy); per-service state is keyed by `request.target.service`.
 */
import { createAppAnswerLayer } from './layers/app-answer.js';
import { createAuthorizationLayer, type AuthorizationLookup } from './layers/authorize.js';
import { createBalanceLayer, type ClusterLookup } from './layers/balance.js';
import { createCircuitBreakerLayer } from './layers/circuit-breaker.js';
import { createOutlierLayer, type OutlierDetectors } from './layers/outlier.js';
import { createRetryLayer, type RetryCounter } from './layers/retry.js';
import type { CircuitCounter } from './layers/circuit-breaker.js';
import type { Counters } from './layers/stats.js';
import { createTimeoutLayer } from './layers/timeout.js';
import { createFaultLayer } from './layers/fault.js';
import { createHeaderModifierLayer } from './layers/header-modifier.js';
import { createMirrorLayer, type MirrorCounters } from './layers/mirror.js';
import { createRateLimitLayer } from './layers/rate-limit.js';
import { createRouteMatchLayer } from './layers/route-match.js';
import type { Endpoint } from '../balancer/types.js';
import type { EndpointHandler, Handler, Layer } from './types.js';

export interface OutboundStackOptions {
  readonly clusters: ClusterLookup;
  readonly detectors: OutlierDetectors;
  /** The protocol's upstream: sends a request to the endpoint the balancer picked. */
  readonly upstream: EndpointHandler;
  /** Jitter source for retry back-off (tests inject one). */
  readonly random?: () => number;
  /** The telemetry layers (src/proxy/telemetry.ts), outermost: they see each request once. */
  readonly telemetry?: readonly Layer[];
  /** Where the retry and circuit-breaker layers count, for the metrics. */
  readonly stats?: { readonly retry: Counters<RetryCounter>; readonly circuit: Counters<CircuitCounter> };
  /** Where the mirror layer counts the copies it sent, lost or skipped. */
  readonly mirrors?: MirrorCounters;
  /** False: no traffic-route layers (raw TCP: routes are HTTP routes). Default true. */
  readonly routes?: boolean;
  /**
   * Every connection to an endpoint is mutual TLS that checked the peer's SPIFFE ID (mTLS strict
   * or permissive): a peer's `trellis-error` is believed (classify.ts). Default false: it is not.
   */
  readonly peersAuthenticated?: boolean;
}

/** The traffic-route layers (src/proxy/routing): they act only on a request that matched a route. */
function routeLayers(options: OutboundStackOptions): readonly Layer[] {
  const random = Math.random;
  return [
    createRouteMatchLayer(random),
    createRateLimitLayer(),
    createFaultLayer(random),
    createHeaderModifierLayer(),
    createMirrorLayer(options.mirrors, random),
  ];
}

function compose(layers: readonly Layer[], inner: Handler): Handler {
  return layers.reduceRight<Handler>((next, layer) => layer(next), inner);
}

export function outboundStack(options: OutboundStackOptions): Handler {
  const layers: readonly Layer[] = [
    ...(options.telemetry ?? []),
    ...(options.routes === false ? [] : routeLayers(options)),
    createTimeoutLayer(),
    createRetryLayer({ ...(options.random === undefined ? {} : { random: options.random }), ...(options.stats === undefined ? {} : { stats: options.stats.retry }) }),
    createCircuitBreakerLayer(options.stats === undefined ? {} : { stats: options.stats.circuit }),
    createOutlierLayer(options.detectors),
  ];
  return compose(layers, createBalanceLayer(options.clusters, { peersAuthenticated: options.peersAuthenticated === true })(options.upstream));
}

/**
 * `telemetry`: propagate → observe (metrics, access log), outermost (a denied request is counted and
 * logged too); `authorization` absent: no authorization layer (every request goes to the app).
 */
export function inboundStack(upstream: EndpointHandler, app: Endpoint, telemetry: readonly Layer[] = [], authorization?: AuthorizationLookup): Handler {
  const layers: readonly Layer[] = [
    ...telemetry,
    ...(authorization === undefined ? [] : [createAuthorizationLayer(authorization)]),
    createAppAnswerLayer(),
  ];
  return compose(layers, (request) => upstream(request, app));
}
