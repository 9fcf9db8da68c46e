/**
 * `trellis gateway`: the mesh's edge. Its listeners (HTTP, and HTTPS terminated here with
 * SNI-chosen, reloaded certificates) run the sidecar's raw-socket HTTP/1.1 server
 * (src/proxy/http1: llhttp on net/tls sockets, no node:http), whose handler is the gateway's
 * (./handler.ts) in front of the mesh's outbound pipeline. It joins the mesh as a client
 * under its own name (a join token for it; a workload certificate, so mTLS to the services'
 * sidecars like any caller), follows each upstream's endpoints and the routes attached to it
 * (`parentRefs: [{ kind: Gateway, name }]`) from the control plane, and keeps the last known
 * ones while the control plane is away.
 */
import type { Logger } from 'pino';
import { FeedFollower } from '../agent/follower.js';
import { routesFeed, UpstreamRoutes } from '../agent/routes.js';
import { createMeshClient, type MeshClient } from '../library/client.js';
import { startHttpListener } from '../proxy/listeners/http.js';
import type { Listener } from '../proxy/listeners/listener.js';
import { fixedSite, siteContext } from '../proxy/listeners/site.js';
import { DEFAULT_UPSTREAM_POLICY } from '../proxy/policy.js';
import { proxyFailure } from '../proxy/failure.js';
import type { Target } from '../proxy/types.js';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import type { HostPort } from '../util/host-port.js';
import { ApiKeys } from './api-keys.js';
import { CertificateSet } from './certificates.js';
import type { GatewayConfig } from './config.js';
import { CorsPolicy } from './cors.js';
import { createGatewayHandler } from './handler.js';
import { JwtAuthenticator } from './jwt.js';
import { GatewayRouter } from './router.js';

export interface Gateway {
  /** Each listener's bound address, by name. */
  readonly addresses: Readonly<Record<string, HostPort>>;
  /** The routes in force (for status and tests). */
  router(): GatewayRouter;
  /** Certificate reloads done, per HTTPS listener. */
  readonly certificates: Readonly<Record<string, CertificateSet>>;
  close(): Promise<void>;
}

export interface GatewayOptions {
  readonly config: GatewayConfig;
  /** The gateway's join token (`trellis token create --service NAME`). */
  readonly token: string;
  readonly logger: Logger;
  /** Uniform in [0, 1) for weighted backends (tests inject one). */
  readonly random?: () => number;
  /** How long to wait for the first routes and endpoints (default 5 s; the gateway serves the last known or none after). */
  readonly syncTimeoutMs?: number;
}

/**
 * The hostnames the gateway resource of this name declares (`GET /v1/gateways/NAME`, read at
 * start); undefined when there is none, or when a listener of it takes any host.
 */
async function declaredHostnames(mesh: MeshClient, name: string, logger: Logger): Promise<readonly string[] | undefined> {
  try {
    const { gateway } = await mesh.controlPlane.getGateway(name);
    const names = gateway.spec.listeners.map((l) => l.hostname);
    logger.info({ gateway: name, listeners: gateway.spec.listeners }, 'gateway: the gateway resource restricts the hosts served');
    return names.some((h) => h === undefined) ? undefined : names.filter((h): h is string => h !== undefined);
  } catch (err) {
    if (err instanceof TrellisError && err.code === ErrorCodes.GATEWAY_NOT_FOUND) return undefined;
    logger.warn({ gateway: name, err: messageOf(err) }, 'gateway: cannot read the gateway resource: serving every host its routes name');
    return undefined;
  }
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { config, logger } = options;
  const closers: Array<() => Promise<void> | void> = [];
  const close = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) await c();
  };
  try {
    const [jwt, certificates] = await Promise.all([
      config.authentication.jwt === undefined ? undefined : JwtAuthenticator.open(config.authentication.jwt),
      Promise.all(config.listeners.map((l) => (l.protocol === 'HTTPS' ? CertificateSet.open(l.certificates, logger) : undefined))),
    ]);
    for (const set of certificates) if (set !== undefined) closers.push(() => set.close());
    const mesh: MeshClient = await createMeshClient({
      service: config.name, controlPlane: config.controlPlane, token: options.token, upstreams: [...config.upstreams], mtls: config.mtls, logger,
      ...(config.controlPlaneCa === undefined ? {} : { controlPlaneCa: config.controlPlaneCa }),
    }, options.syncTimeoutMs);
    closers.push(() => mesh.close());

    const hosts = await declaredHostnames(mesh, config.name, logger);
    let router = new GatewayRouter(config.name, []);
    const routes = new UpstreamRoutes([config.name], () => {
      const attached = routes.of(config.name);
      if (attached !== router.routes) router = new GatewayRouter(config.name, attached);
    }, logger);
    const follower = new FeedFollower({ feed: routesFeed(mesh.controlPlane, routes), logger });
    follower.start();
    closers.push(() => follower.close());
    await Promise.race([follower.synced, new Promise((resolve) => setTimeout(resolve, options.syncTimeoutMs ?? 5_000).unref())]);

    const handler = createGatewayHandler({
      name: config.name, router: () => router, mesh: (service) => mesh.route(service), jwt, hostnames: hosts,
      apiKeys: config.authentication.apiKeys === undefined ? undefined : new ApiKeys(config.authentication.apiKeys),
      cors: config.cors === undefined ? undefined : new CorsPolicy(config.cors),
      maxBodyBytes: config.limits.maxBodyBytes, logger, ...(options.random === undefined ? {} : { random: options.random }),
    });
    const target: Target = Object.freeze({ direction: 'outbound', service: config.name, policy: DEFAULT_UPSTREAM_POLICY });
    const context = siteContext(logger, 64 * 1024, () => false);
    const limits = { maxHeaderSize: config.limits.maxHeaderSize, headersTimeoutMs: 10_000, requestTimeoutMs: 300_000, keepAliveTimeoutMs: 5_000, engine: 'raw' as const };
    const upgrade = proxyFailure(ErrorCodes.BAD_REQUEST, `gateway ${config.name} does not relay WebSocket upgrades yet`);
    const listeners: Listener[] = [];
    closers.push(() => Promise.all(listeners.map((l) => l.close())).then(() => undefined));
    const addresses: Record<string, HostPort> = {};
    const tls: Record<string, CertificateSet> = {};
    for (const [index, l] of config.listeners.entries()) {
      const set = certificates[index];
      const site = fixedSite(context, target, handler, upgrade, false);
      const listener = await startHttpListener(`gateway ${l.name}`, l.address, `listeners.${index}.address`, site, limits, set?.front());
      listeners.push(listener);
      addresses[l.name] = listener.address;
      if (set !== undefined) tls[l.name] = set;
    }
    logger.info({ gateway: config.name, listeners: addresses, routes: router.routes.map((r) => r.name) }, 'gateway: serving');
    return { addresses, router: () => router, certificates: tls, close };
  } catch (err) {
    await close();
    throw err;
  }
}
