/** The control plane's HTTP API: a fastify app with our error shape on every failure. */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from '../../registry/registry.js';
import type { PolicyStore } from '../../security/authz/store.js';
import { Limits } from '../../registry/limits.js';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { requireTokens } from './auth.js';
import { answerClientError, MAX_PARAM_LENGTH, routeNotFound, sendError } from './errors.js';
import { jsonBodyParser } from './json-body.js';
import { DEFAULT_LISTENER_LIMITS, effectiveMaxConnections, guardListener, openFileLimit, type ListenerLimits } from './listener-limits.js';
import { policyRoutes } from './policies.js';
import { serviceDefaultsRoutes } from './service-defaults.js';
import type { ServiceDefaultsStore } from '../service-defaults/store.js';
import type { RouteStore } from '../routes/store.js';
import { trafficRoutes } from './traffic-routes.js';
import type { GatewayStore } from '../gateways/store.js';
import { gatewayRoutes } from './gateways.js';
import { securityRoutes, type SecurityRouteOptions } from './security.js';
import { DEFAULT_RATE_LIMIT, RateLimiter, type RateLimitOptions } from './rate-limit.js';
import { heartbeatStreams } from './heartbeat-stream.js';
import { servicesRoutes } from './services.js';
import { sessionRoutes } from './sessions.js';
import { statusRoutes, type ReplicaStatus, type XdsStatus } from './status.js';
import { watchRoutes, type WatchRouteOptions } from './watch.js';
import type { Logger } from 'pino';
import type { TelemetryCollector } from '../../telemetry/collector.js';
import { dashboardRoutes } from './dashboard.js';
import { metricsRoutes } from './metrics.js';
import { tapHub, tapRoutes } from './tap.js';
import { telemetryRoutes } from './telemetry.js';
import { apiServerFactory, type ApiTls } from './tls.js';
import type { PresenceTracker } from '../../health/presence.js';
import { presenceRoutes } from './presence.js';

export interface ApiOptions {
  registry: Registry;
  /** Authorization policies (/v1/policies); absent = no policy API. */
  policies?: PolicyStore;
  /** Per-service resilience defaults (/v1/service-defaults); absent = not served. */
  serviceDefaults?: ServiceDefaultsStore;
  /** Traffic routes (/v1/traffic-routes). */
  routes?: RouteStore;
  /** Gateway resources (/v1/gateways). */
  gateways?: GatewayStore;
  logger: FastifyBaseLogger;
  watch?: WatchRouteOptions;
  security: SecurityRouteOptions;
  /** This replica and its peers, for /v1/status (several control planes on one store). */
  replica?: () => ReplicaStatus | undefined;
  /** The xDS server's address and counters, for /v1/status. */
  xds?: () => XdsStatus | undefined;
  /** Sidecar reports, stat/edges/check and the dashboard (absent: those routes are not served). */
  telemetry?: TelemetryCollector;
  /** Serve HTTPS with this certificate (absent: plain HTTP). */
  tls?: ApiTls;
  /** The sidecars' presence streams (fast failure detection); absent: not served. */
  presence?: PresenceTracker;
  /** Connection counts and timeouts of the listener (default DEFAULT_LISTENER_LIMITS). */
  limits?: ListenerLimits;
  /** Registrations and heartbeats per token (default 10,000/s, bursts of 20,000). */
  rateLimit?: RateLimitOptions;
}

export function buildApi(options: ApiOptions): FastifyInstance {
  const limits = options.limits ?? DEFAULT_LISTENER_LIMITS;
  const app = Fastify({
    loggerInstance: options.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: Limits.bodyMaxBytes,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Keep-alive connections (the CLI, sidecars) are closed promptly on shutdown.
    forceCloseConnections: true,
    return503OnClosing: true,
    serverFactory: apiServerFactory(options.tls, limits),
    // The router's own refusals (bad percent-encoding, a too long path part) and Node's parser
    // errors (400, 408, 431) get the API's error shape too.
    frameworkErrors: (err, request, reply) => { sendError(reply, request, err); },
    clientErrorHandler: answerClientError,
  });
  const maxConnections = effectiveMaxConnections(limits.maxConnections, openFileLimit());
  if (maxConnections < limits.maxConnections) {
    options.logger.warn({ maxConnections, configured: limits.maxConnections },
      'API connections capped below --max-connections to keep file descriptors for the store, etcd and health checks; raise ulimit -n for more');
  }
  const connections = guardListener(app.server, limits, maxConnections);
  // JSON only: any other body type is answered 415, not half-understood.
  app.removeContentTypeParser('text/plain');
  // JSON as UTF-8 text only: invalid byte sequences and lone surrogates are refused, naming the field.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, jsonBodyParser(app.getDefaultJsonParser('error', 'error')));
  app.setErrorHandler((err, request, reply) => sendError(reply, request, err));
  app.setNotFoundHandler((request, reply) => sendError(reply, request, routeNotFound(request.method, request.url)));
  app.addHook('onRequest', async (request) => {
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      throw new TrellisError(ErrorCodes.BAD_REQUEST, 'an HTTP/1.1 request must have a Host header (RFC 9112 §3.2)');
    }
  });
  // Every call needs a token unless its route says otherwise (default deny): docs/security.md.
  requireTokens(app, options.security.authenticator);
  metricsRoutes(app, options.registry, options.telemetry, connections);
  statusRoutes(app, options.registry, Date.now(), options.replica, options.xds);
  const limiter = new RateLimiter(options.rateLimit ?? DEFAULT_RATE_LIMIT);
  servicesRoutes(app, options.registry, limiter);
  heartbeatStreams(app, {
    registry: options.registry, authenticator: options.security.authenticator, limiter, logger: options.logger, idleTimeoutMs: limits.idleTimeoutMs,
    ...(options.watch?.keepAliveMs === undefined ? {} : { keepAliveMs: options.watch.keepAliveMs }),
  });
  watchRoutes(app, options.registry, options.watch);
  if (options.presence !== undefined) presenceRoutes(app, options.presence, options.watch?.keepAliveMs);
  if (options.policies !== undefined) policyRoutes(app, options.policies, options.watch);
  if (options.serviceDefaults !== undefined) serviceDefaultsRoutes(app, options.serviceDefaults, options.watch);
  if (options.routes !== undefined) trafficRoutes(app, options.routes, options.watch);
  if (options.gateways !== undefined) gatewayRoutes(app, options.gateways);
  securityRoutes(app, options.security);
  sessionRoutes(app, options.security.sessions);
  if (options.telemetry !== undefined) {
    const taps = tapHub(options.telemetry);
    telemetryRoutes(app, options.registry, options.telemetry, taps);
    tapRoutes(app, taps);
    dashboardRoutes(app, options.registry, options.telemetry, options.logger as Logger);
  }
  return app;
}
