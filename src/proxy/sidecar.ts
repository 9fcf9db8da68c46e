/**
 * The sidecar (`trellis proxy`), one per service instance: composition of the pieces.
 *
 *   outbound listener (HTTP proxy / Host) ──┐
 *   per-upstream ports (http | h2c | tcp) ──┼→ outbound pipeline (per protocol) → endpoint tables (watch) → peer sidecars
 *   inbound listener (http | h2c | tcp) ────→ local app (own pool / session)
 *   app health check → registration + TTL heartbeats while it passes
 *   telemetry (proxy/telemetry.ts): metrics + access-log layers, admin listener, reports to the control plane
 *
 * `drain()` (SIGTERM): stop accepting inbound connections, deregister, let in-flight
 * requests finish within drainTimeout, then close. The outbound side keeps serving the
 * app until the close, so that requests it is finishing can still call out.
 */
import type { Logger } from 'pino';
import { ControlPlaneClient } from '../client/control-plane.js';
import { ThrottledLog } from '../util/throttled-log.js';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import { startSessionKeeper } from '../security/tokens/session-keeper.js';
import { SidecarCredential } from '../security/tokens/sidecar-credential.js';
import { startAdminServer } from '../telemetry/admin-server.js';
import { createLogger } from '../telemetry/logger.js';
import type { SidecarMetrics } from '../telemetry/metrics.js';
import { TelemetryReporter } from '../telemetry/reporter.js';
import { formatHostPort, type HostPort } from '../util/host-port.js';
import { AuthorizationTable, policyFeed } from './authorization/table.js';
import { parseSidecarConfig, type SidecarConfig, type SidecarConfigInput } from './config.js';
import { FeedFollower } from './discovery/follower.js';
import { EndpointTables } from './endpoints.js';
import { startInstance, type Instance } from './instance.js';
import { OutlierDetectors } from './layers/outlier.js';
import type { Listener } from './listeners/listener.js';
import { startOutboundListener } from './listeners/outbound.js';
import { siteContext } from './listeners/site.js';
import { startUpstreamPortListener } from './listeners/upstream-port.js';
import { outboundStack } from './pipeline.js';
import { DEFAULT_UPSTREAM_POLICY } from './policy.js';
import { sidecarStatus, type SidecarStatus } from './status.js';
import { serviceRoute, type Pipelines, type ServiceRoute } from './routes.js';
import { createSidecarTelemetry } from './telemetry.js';
import { createHttpUpstream, originOf, type HttpUpstream } from './upstream/http.js';
import { createHttp2Upstream } from './upstream/http2.js';
import { createUpgradeUpstream } from './upstream/upgrade.js';
import type { EndpointHandler, Handler, Target } from './types.js';
import type { SidecarTls } from '../security/mtls/sidecar-tls.js';

export type { SidecarStatus };

/** How long start-up waits for the first endpoint tables before it reports ready anyway. */
const INITIAL_SYNC_TIMEOUT_MS = 5_000;

export interface SidecarOptions {
  /** The config as written (see config.ts); validated here. */
  readonly config: SidecarConfigInput;
  /** Default: JSON logs on stdout at info. */
  readonly logger?: Logger;
  /** Jitter source for retry back-off (tests inject one). */
  readonly random?: () => number;
  /**
   * The sidecar's token (kept out of the config: never logged): a join token, for its first
   * certificate and session; afterwards the newest session is used (docs/security.md).
   */
  readonly token?: string;
  /** The CA (PEM) of an https:// control plane's certificate (--control-plane-ca). */
  readonly controlPlaneCa?: string;
}

export interface Sidecar {
  readonly config: SidecarConfig;
  /** Where other sidecars reach this instance; undefined without an app. */
  readonly inbound: HostPort | undefined;
  /** The app's HTTP proxy / Host-header listener. */
  readonly outbound: HostPort;
  /** Bound per-upstream ports, by service. */
  readonly upstreamPorts: Readonly<Record<string, HostPort>>;
  /** The admin listener: /metrics, /status, /ready. */
  readonly admin: HostPort;
  /** The Prometheus registry's owner (undefined with telemetry.metrics off); the TLS listeners count handshake failures here. */
  readonly metrics: SidecarMetrics | undefined;
  status(): SidecarStatus;
  /** Stop taking inbound traffic, deregister, finish in-flight requests (≤ drainTimeout), close. */
  drain(): Promise<void>;
  /** Close everything now (no deregistration). */
  close(): Promise<void>;
  /** Mutual TLS (identity, handshake counters and their hook); undefined in mode off. */
  readonly tls: SidecarTls | undefined;
}

function whenIdle(listener: Listener | undefined, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const deadline = Date.now() + timeoutMs;
    const check = (): void => {
      if (listener === undefined || listener.inFlight() === 0 || Date.now() >= deadline) resolve();
      else setTimeout(check, 25).unref();
    };
    check();
  });
}

export async function startSidecar(options: SidecarOptions): Promise<Sidecar> {
  const config = parseSidecarConfig(options.config);
  const logger = (options.logger ?? createLogger({ name: 'trellis-proxy' })).child({ service: config.service, id: config.id });
  if (options.token === undefined || options.token === '') {
    throw new TrellisError(ErrorCodes.TOKEN_MISSING,
      `the sidecar of ${config.service} needs a token for the control plane's API: make one with \`trellis token create --service ${config.service}\` and pass it in TRELLIS_TOKEN (or --token-file)`);
  }
  const credential = new SidecarCredential(options.token);
  const client = new ControlPlaneClient(config.controlPlane, () => credential.current(), options.controlPlaneCa === undefined ? undefined : { ca: options.controlPlaneCa });
  const limits = config.http;
  let draining = false;
  const closers: Array<() => Promise<void> | void> = [];
  const close = async (): Promise<void> => {
    for (const closer of closers.splice(0).reverse()) await closer();
  };

  try {
    const listeners: Listener[] = [];
    const openConnections = (direction: 'inbound' | 'outbound'): number =>
      listeners.reduce((sum, l) => sum + ((l.name === 'inbound') === (direction === 'inbound') ? l.inFlight() : 0), 0);
    const sinkFailures = new ThrottledLog(logger, 'recording a request in the metrics or the access log failed');
    const telemetry = createSidecarTelemetry(config, openConnections, (err) => sinkFailures.report({ err: messageOf(err) }));
    closers.push(() => telemetry.close());
    // The certificate code (x509, ASN.1) is loaded only when mTLS is on: ≈ 17 MB RSS a sidecar in mode off does not need.
    const tls = config.mtls.mode === 'off' ? undefined
      : await (await import('../security/mtls/sidecar-tls.js')).startSidecarTls({ config: config.mtls, service: config.service, client, token: options.token, logger, onSession: (s) => credential.adopt(s) });
    if (tls === undefined) {
      // No certificates to carry sessions: the join token is exchanged for renewable ones.
      const keeper = await startSessionKeeper({ client, credential, service: config.service, lifetimeMs: config.mtls.certificateLifetimeMs, logger });
      closers.push(() => keeper.close());
    } else {
      closers.push(() => tls.close());
      tls.stats.onFailure((failure) => telemetry.metrics?.tlsHandshakeFailed(failure.side));
    }
    const peerTls = tls === undefined ? {} : { tls: tls.client };
    const relay = { connectTimeoutMs: config.connectTimeoutMs, failures: new ThrottledLog(logger, 'a TCP connection could not be relayed'), ...peerTls };
    const detectors = new OutlierDetectors({ stats: telemetry.stats.outlier, onEvent: (event) => logger.info(event, `outlier detection: endpoint ${event.kind}`) });
    const unreachable = ErrorCodes.UPSTREAM_CONNECT;
    const http1: HttpUpstream = createHttpUpstream({ unreachable, connectTimeoutMs: config.connectTimeoutMs, ...peerTls });
    closers.push(() => http1.close());
    const http2: HttpUpstream = createHttp2Upstream({ unreachable, connectTimeoutMs: config.connectTimeoutMs, ...peerTls });
    closers.push(() => http2.close());
    let retainScheduled = false;
    const tables: EndpointTables = new EndpointTables({
      client, logger, detectors, upstreams: config.upstreams,
      onChange: () => {
        // Close pools and sessions of endpoints that left every table, once per burst of changes.
        if (retainScheduled) return;
        retainScheduled = true;
        queueMicrotask(() => {
          retainScheduled = false;
          const origins = new Set(Array.from(tables.endpoints(), originOf));
          http1.retain(origins);
          http2.retain(origins);
        });
      },
    });
    closers.push(() => tables.close());
    await tables.start(INITIAL_SYNC_TIMEOUT_MS);

    const stack = (upstream: EndpointHandler): Handler => outboundStack({
      clusters: (service) => tables.get(service), detectors, upstream, telemetry: telemetry.layers, stats: telemetry.stats, ...(options.random === undefined ? {} : { random: options.random }),
    });
    const pipelines: Pipelines = {
      http: stack(http1.send),
      http2: stack(http2.send),
      upgrade: stack(createUpgradeUpstream({ unreachable, connectTimeoutMs: config.connectTimeoutMs, ...peerTls })),
    };
    const context = siteContext(logger, limits.replayBufferBytes, () => draining);
    const routes = new Map<string, ServiceRoute>(config.upstreams.map((u) => [
      u.service, serviceRoute(Object.freeze({ direction: 'outbound', service: u.service, policy: u.policy }), u.protocol, pipelines),
    ]));
    const localTarget: Target = Object.freeze({ direction: 'outbound', service: config.service, policy: DEFAULT_UPSTREAM_POLICY });

    closers.push(() => Promise.all(listeners.map((l) => l.close())).then(() => undefined));
    const outbound = await startOutboundListener({ at: config.outbound.listen, routes, localTarget, context, limits });
    listeners.push(outbound);
    const upstreamPorts: Record<string, HostPort> = {};
    for (const [index, u] of config.upstreams.entries()) {
      const cluster = tables.get(u.service);
      const route = routes.get(u.service);
      if (u.listen === undefined || cluster === undefined || route === undefined) continue;
      const listener = await startUpstreamPortListener({
        at: u.listen, field: `upstreams.${index}.port`, protocol: u.protocol, route, cluster, context, limits, relay,
      });
      listeners.push(listener);
      upstreamPorts[u.service] = listener.address;
    }

    let reporter: TelemetryReporter | undefined;
    let instance: Instance | undefined;
    let authorization: AuthorizationTable | undefined;
    if (config.app !== undefined) {
      // Inbound authorization: this service's policies, followed like the endpoint tables.
      authorization = new AuthorizationTable(config.service, logger);
      const policies = new FeedFollower({ feed: policyFeed(client, authorization), logger });
      policies.start();
      closers.push(() => policies.close());
      instance = await startInstance({
        config, app: config.app, client, context, relay: { ...relay, tls: undefined }, logger, tls, authorization,
        layers: telemetry.layers, onAppHealthChange: () => reporter?.reportNow(),
      });
      const started = instance;
      closers.push(() => started.close());
      listeners.push(started.inbound);
    }
    const inbound = instance?.inbound;
    const registration = instance?.registration;
    const health = instance?.health;

    let closed = false;
    let drained: Promise<void> | undefined;
    const closeOnce = async (): Promise<void> => {
      closed = true;
      await close();
    };
    const status = (): SidecarStatus => sidecarStatus({ config, closed, draining, tables, listeners, registration, health, authorization, tls });
    const admin = await startAdminServer(config.admin.listen, {
      metrics: telemetry.metrics,
      status,
      ready: () => !closed && !draining && (registration === undefined || registration.state === 'registered'),
    });
    closers.push(() => admin.close());
    const started: TelemetryReporter = new TelemetryReporter({
      client, service: config.service, id: config.id, intervalMs: config.telemetry.reportMs, logger,
      metrics: telemetry.metrics, stats: telemetry.stats, status, openConnections: () => openConnections('inbound') + openConnections('outbound'),
    });
    reporter = started;
    closers.push(() => started.stop());
    started.start();

    const sidecar: Sidecar = {
      config,
      inbound: inbound?.address,
      outbound: outbound.address,
      upstreamPorts: Object.freeze(upstreamPorts),
      admin: admin.address,
      metrics: telemetry.metrics,
      status,
      tls,
      drain() {
        drained ??= (async () => {
          draining = true;
          logger.info({ drainTimeoutMs: config.drainTimeoutMs, inFlight: inbound?.inFlight() ?? 0 }, 'draining');
          inbound?.stopAccepting();
          health?.stop();
          await registration?.deregister();
          await whenIdle(inbound, config.drainTimeoutMs);
          await closeOnce();
          logger.info('drained and closed');
        })();
        return drained;
      },
      close: closeOnce,
    };
    logger.info({
      inbound: inbound === undefined ? null : formatHostPort(inbound.address),
      outbound: formatHostPort(outbound.address),
      admin: formatHostPort(admin.address),
      upstreams: Object.fromEntries(Object.entries(upstreamPorts).map(([service, at]) => [service, formatHostPort(at)])),
      controlPlane: config.controlPlane,
      mtls: tls === undefined ? 'off' : { mode: tls.mode, spiffeId: tls.identity.current()?.spiffeId ?? null },
    }, 'sidecar ready');
    return sidecar;
  } catch (err) {
    await close();
    throw err;
  }
}
