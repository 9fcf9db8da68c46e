/**
 * The control plane process: the store, the registry on it, the health tasks
 * (TTL monitor, active checks, critical reaper), the HTTP API and the DNS interface.
 */
import type { Logger } from 'pino';
import { startActiveChecks, type ActiveChecks } from '../health/active-checks.js';
import { startCriticalReaper } from '../health/critical-reaper.js';
import { startTtlMonitor } from '../health/ttl-monitor.js';
import { startDnsServer, type DnsServer } from '../dns/index.js';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import { Registry } from '../registry/registry.js';
import { createPresenceTracker } from '../health/presence.js';
import { isHealthy } from '../registry/types.js';
import { PolicyStore } from '../security/authz/store.js';
import { EMBEDDED_STORE, checkStoreFlag, openEphemeralStore, openStore, type EtcdSettings } from '../store/open.js';
import { prepareDataDir } from '../security/data-dir.js';
import { DEFAULT_NAMESPACE } from '../security/spiffe.js';
import { ServiceDefaultsStore } from './service-defaults/store.js';
import { RouteStore } from './routes/store.js';
import { GatewayStore } from './gateways/store.js';
import { formatHostPort, type HostPort } from '../util/host-port.js';
import { startSecurity, type SecurityOptions } from '../security/control-plane.js';
import type { CertificateAuthority } from '../security/ca/authority.js';
import type { JoinTokens } from '../security/tokens/join-tokens.js';
import { TelemetryCollector } from '../telemetry/collector.js';
import { buildApi } from './api/app.js';
import type { ApiTls } from './api/tls.js';
import type { ListenerLimits } from './api/listener-limits.js';
import { joinReplicaSet, type ReplicaSet } from './replicas.js';
import { startXdsServer, type XdsLimits, type XdsServer } from './xds/server.js';
import { XdsView } from './xds/view.js';

export interface ControlPlaneOptions {
  dataDir: string;
  /** "embedded" (default: SQLite in dataDir) or etcd://host1:2379,host2:2379,… */
  store?: string;
  etcd?: EtcdSettings;
  /** This replica's name among several on one store, and its membership lease TTL. */
  replica?: { id?: string; ttlMs?: number };
  listen: HostPort;
  /** DNS on UDP and TCP; false to turn it off. */
  dns: HostPort | false;
  logger: Logger;
  /** Active health checks never run more often than this. */
  minCheckIntervalMs?: number;
  /** A keep-alive line is sent on idle watch streams this often (default 15 s). */
  watchKeepAliveMs?: number;
  /** A watcher whose unread live events exceed this is cut off (default 8 MiB). */
  watchMaxBufferedBytes?: number;
  /** How long a sidecar's dropped presence stream may take to come back before its instance is marked critical (default 500 ms). */
  presenceGraceMs?: number;
  /** The CA and join tokens (trust domain, a given root, the longest certificate lifetime). */
  security?: SecurityOptions;
  /** Serve the API over HTTPS with this certificate and key (PEM). */
  apiTls?: ApiTls;
  /** Connection counts and timeouts of the API listener (docs/operations.md, "Listener limits"). */
  limits?: ListenerLimits;
  /** Registrations and heartbeats per second per token (0: no limit; default 10,000). */
  rateLimitPerSecond?: number;
  /** The xDS (ADS over gRPC) server for proxyless gRPC clients; absent or false: not served. */
  xds?: HostPort | false;
  xdsLimits?: XdsLimits;
  /** Mutual TLS for proxyless gRPC (gRFC A29) on every cluster and inbound listener. */
  xdsMtls?: boolean;
}

export interface ControlPlane {
  /** http://host:port of the API (https:// with apiTls). */
  readonly url: string;
  readonly dns: HostPort | undefined;
  /** host:port of the xDS server, when it runs. */
  readonly xds: string | undefined;
  readonly registry: Registry;
  readonly ca: CertificateAuthority;
  /** Join tokens: `trellis up` mints its replicas' tokens here. */
  readonly tokens: JoinTokens;
  readonly replicas: ReplicaSet;
  /** The admin token on the control plane's first start (to show once); undefined afterwards. */
  readonly createdAdminToken: string | undefined;
  close(): Promise<void>;
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const { logger } = options;
  prepareDataDir(options.dataDir, { logger, embedded: checkStoreFlag(options.store ?? EMBEDDED_STORE) === EMBEDDED_STORE });
  const store = await openStore({
    dataDir: options.dataDir, logger,
    ...(options.store === undefined ? {} : { store: options.store }),
    ...(options.etcd === undefined ? {} : { etcd: options.etcd }),
  });
  const registry = new Registry(store);
  registry.warm();
  const closers: Array<() => Promise<void> | void> = [() => store.close(), () => registry.close()];
  const close = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) {
      try { await c(); } catch (err) { logger.warn({ err: messageOf(err) }, 'error while shutting down'); }
    }
  };
  try {
    const ttl = await startTtlMonitor(registry, logger);
    closers.push(() => ttl.close());
    const reaper = await startCriticalReaper(registry, logger);
    closers.push(() => reaper.close());
    const security = await startSecurity({ store, dataDir: options.dataDir, logger, ...options.security });
    const policies = new PolicyStore(store, { trustDomain: security.ca.trustDomain, federatedTrustDomains: security.issuer.federatedTrustDomains });
    // Known once the API listens (the member record carries its URL); /v1/status reports them.
    let replicas: ReplicaSet | undefined;
    let checks: ActiveChecks | undefined;
    // Reports of an embedded control plane live in memory, out of the registry's history and disk.
    const reports = openEphemeralStore(store, logger);
    if (reports !== store) closers.push(() => reports.close());
    const telemetry = await TelemetryCollector.start(registry, logger, Date.now, reports);
    closers.push(() => telemetry.close());
    const presence = createPresenceTracker(store, registry, logger, options.presenceGraceMs);
    const serviceDefaults = new ServiceDefaultsStore(store);
    const routes = new RouteStore(store);
    let xds: XdsServer | undefined;
    const api = buildApi({
      registry, policies, serviceDefaults, routes, gateways: new GatewayStore(store), logger, security, telemetry, presence,
      xds: () => (xds === undefined ? undefined : { address: xds.address, ...xds.stats() }),
      replica: () => (replicas === undefined ? undefined : { id: replicas.id, members: replicas.members(), checks: checks?.running ?? 0 }),
      watch: {
        ...(options.watchKeepAliveMs === undefined ? {} : { keepAliveMs: options.watchKeepAliveMs }),
        ...(options.watchMaxBufferedBytes === undefined ? {} : { maxBufferedBytes: options.watchMaxBufferedBytes }),
      },
      ...(options.apiTls === undefined ? {} : { tls: options.apiTls }),
      ...(options.limits === undefined ? {} : { limits: options.limits }),
      ...(options.rateLimitPerSecond === undefined ? {} : { rateLimit: { perSecond: options.rateLimitPerSecond } }),
    });
    try {
      await api.listen({ host: options.listen.host, port: options.listen.port });
    } catch (err) {
      throw new TrellisError(ErrorCodes.LISTEN, `cannot listen on ${formatHostPort(options.listen)} for the API: ${messageOf(err)} (pick another --listen address)`, { cause: err });
    }
    closers.push(() => api.close());
    // Closed before the API (closers run in reverse): its streams closing on shutdown are no failures.
    closers.push(() => presence.close());
    const address = api.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : options.listen.port;
    const url = `${options.apiTls === undefined ? 'http' : 'https'}://${formatHostPort({ host: options.listen.host, port })}`;

    // Active checks are shared out among the replicas on this store (one replica: it owns all).
    const replicaSet = await joinReplicaSet(store, logger, { url, ...options.replica });
    replicas = replicaSet;
    closers.push(() => replicaSet.close());
    const activeChecks = await startActiveChecks(registry, logger, {
      owns: (instance) => replicaSet.owns(instance),
      ...(options.minCheckIntervalMs === undefined ? {} : { minIntervalMs: options.minCheckIntervalMs }),
    });
    checks = activeChecks;
    closers.push(() => activeChecks.close());
    replicaSet.onChange(() => activeChecks.rebalance());

    let dns: DnsServer | undefined;
    if (options.dns !== false) {
      try {
        dns = await startDnsServer({
          host: options.dns.host,
          port: options.dns.port,
          logger,
          lookup: async (service) => {
            const { instances } = await registry.listInstances(service);
            return instances.length === 0 ? undefined : instances.filter(isHealthy);
          },
        });
      } catch (err) {
        throw new TrellisError(ErrorCodes.LISTEN, `cannot listen on ${formatHostPort(options.dns)} for DNS: ${messageOf(err)} (pick another --dns address, or --dns off)`, { cause: err });
      }
      const dnsServer = dns;
      closers.push(() => dnsServer.close());
    }
    if (options.xds !== undefined && options.xds !== false) {
      const view = await XdsView.start({
        registry, serviceDefaults, routes, policies, logger, mtls: options.xdsMtls === true,
        scope: { trustDomain: security.ca.trustDomain, namespace: DEFAULT_NAMESPACE, federatedTrustDomains: security.issuer.federatedTrustDomains },
      });
      closers.push(() => view.close());
      const started = await startXdsServer({
        listen: options.xds, view, authenticator: security.authenticator, logger,
        ...(options.xdsLimits === undefined ? {} : { limits: options.xdsLimits }),
      });
      xds = started;
      closers.push(() => started.close());
    }
    const dnsAddress = dns === undefined ? undefined : { host: dns.host, port: dns.port };
    logger.info({ api: url, dns: dnsAddress === undefined ? null : formatHostPort(dnsAddress), dataDir: options.dataDir, backend: store.backend, replica: replicaSet.id, xds: xds?.address ?? null }, 'control plane ready');
    return { url, dns: dnsAddress, xds: xds?.address, registry, ca: security.ca, tokens: security.tokens, createdAdminToken: security.createdAdminToken, replicas: replicaSet, close };
  } catch (err) {
    await close();
    throw err;
  }
}
