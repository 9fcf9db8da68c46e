/** The control plane's HTTP API: a fastify app with our error shape on every failure. */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from '../../registry/registry.js';
import type { PolicyStore } from '../../security/authz/store.js';
import { Limits } from '../../registry/limits.js';
import { requireTokens } from './auth.js';
import { routeNotFound, sendError } from './errors.js';
import { policyRoutes } from './policies.js';
import { securityRoutes, type SecurityRouteOptions } from './security.js';
import type { RateLimitOptions } from './rate-limit.js';
import { servicesRoutes } from './services.js';
import { sessionRoutes } from './sessions.js';
import { statusRoutes, type ReplicaStatus } from './status.js';
import { watchRoutes, type WatchRouteOptions } from './watch.js';
import type { Logger } from 'pino';
import type { TelemetryCollector } from '../../telemetry/collector.js';
import { dashboardRoutes } from './dashboard.js';
import { metricsRoutes } from './metrics.js';
import { telemetryRoutes } from './telemetry.js';
import { apiServerFactory, type ApiTls } from './tls.js';
import type { PresenceTracker } from '../../health/presence.js';
import { presenceRoutes } from './presence.js';

export interface ApiOptions {
  registry: Registry;
  /** Authorization policies (/v1/policies); absent = no policy API. */
  policies?: PolicyStore;
  logger: FastifyBaseLogger;
  watch?: WatchRouteOptions;
  security: SecurityRouteOptions;
  /** This replica and its peers, for /v1/status (several control planes on one store). */
  replica?: () => ReplicaStatus | undefined;
  /** Sidecar reports, stat/edges/check and the dashboard (absent: those routes are not served). */
  telemetry?: TelemetryCollector;
  /** Serve HTTPS with this certificate (absent: plain HTTP). */
  tls?: ApiTls;
  /** The sidecars' presence streams (fast failure detection); absent: not served. */
  presence?: PresenceTracker;
  /** Registrations and heartbeats per token (default 10,000/s, bursts of 20,000). */
  rateLimit?: RateLimitOptions;
}

export function buildApi(options: ApiOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: Limits.bodyMaxBytes,
    routerOptions: { maxParamLength: 1024 },
    // Keep-alive connections (the CLI, sidecars) are closed promptly on shutdown.
    forceCloseConnections: true,
    return503OnClosing: true,
    serverFactory: apiServerFactory(options.tls),
  });
  // JSON only: any other body type is answered 415, not half-understood.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler((err, request, reply) => sendError(reply, request, err));
  app.setNotFoundHandler((request, reply) => sendError(reply, request, routeNotFound(request.method, request.url)));
  // Every call needs a token unless its route says otherwise (default deny): docs/security.md.
  requireTokens(app, options.security.authenticator);
  metricsRoutes(app, options.registry, options.telemetry);
  statusRoutes(app, options.registry, Date.now(), options.replica);
  servicesRoutes(app, options.registry, options.rateLimit);
  watchRoutes(app, options.registry, options.watch);
  if (options.presence !== undefined) presenceRoutes(app, options.presence, options.watch?.keepAliveMs);
  if (options.policies !== undefined) policyRoutes(app, options.policies, options.watch);
  securityRoutes(app, options.security);
  sessionRoutes(app, options.security.sessions);
  if (options.telemetry !== undefined) {
    telemetryRoutes(app, options.registry, options.telemetry);
    dashboardRoutes(app, options.registry, options.telemetry, options.logger as Logger);
  }
  return app;
}
