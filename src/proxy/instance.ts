/**
 * The instance side of a sidecar: the inbound listener in front of the local app (its own
 * pool), the app's local health check, and the registration that heartbeats only while
 * that check passes. Absent for an outbound-only sidecar (no app).
 */
import type { Logger } from 'pino';
import type { Endpoint } from '../balancer/types.js';
import type { ControlPlaneClient } from '../client/control-plane.js';
import { ErrorCodes } from '../errors.js';
import type { AuthorizationTable } from './authorization/table.js';
import { formatHostPort } from '../util/host-port.js';
import { speaksHttp2, type AppConfig, type SidecarConfig } from './config.js';
import { AppHealth } from './lifecycle/app-health.js';
import { Registration } from './lifecycle/registration.js';
import { startInboundListener } from './listeners/inbound.js';
import type { Listener } from './listeners/listener.js';
import type { SiteContext } from './listeners/site.js';
import { DEFAULT_UPSTREAM_POLICY } from './policy.js';
import type { RelayOptions } from './tcp/relay.js';
import { http1Protocol } from './protocols.js';
import { createHttp2Upstream } from './upstream/http2.js';
import { createUpgradeUpstream } from './upstream/upgrade.js';
import type { SidecarTls } from '../security/mtls/sidecar-tls.js';
import type { Layer } from './types.js';

/** Connections from the inbound listener to the local app. */
const APP_CONNECTIONS = 128;

export interface Instance {
  readonly inbound: Listener;
  readonly registration: Registration;
  readonly health: AppHealth;
  /** Stop the check and the heartbeats, close the app's pool (the listener is closed with the others). */
  close(): Promise<void>;
}

export interface InstanceOptions {
  readonly config: SidecarConfig;
  readonly app: AppConfig;
  readonly client: ControlPlaneClient;
  readonly context: SiteContext;
  readonly relay: RelayOptions;
  readonly logger: Logger;
  /** This service's authorization policies, enforced on the inbound listener. */
  readonly authorization?: AuthorizationTable;
  /** Mutual TLS for the inbound listener; undefined in mode off. */
  readonly tls: SidecarTls | undefined;
  /** Layers in front of the app (telemetry), outermost first. */
  readonly layers?: readonly Layer[];
  /** Called after the app's local check changes (the telemetry reporter tells the control plane at once). */
  readonly onAppHealthChange?: (passing: boolean) => void;
}

export async function startInstance(options: InstanceOptions): Promise<Instance> {
  const { config, app, logger } = options;
  const unreachable = ErrorCodes.APP_UNAVAILABLE;
  const appUpstream = speaksHttp2(app.protocol)
    ? createHttp2Upstream({ unreachable, connectTimeoutMs: config.connectTimeoutMs })
    : (await http1Protocol(config.http.engine)).upstream({
      unreachable, connectionsPerEndpoint: APP_CONNECTIONS, connectTimeoutMs: config.connectTimeoutMs,
      bodyIdleTimeoutMs: config.http.bodyIdleTimeoutMs, maxHeaderSize: config.http.maxHeaderSize,
    });
  const appEndpoint: Endpoint = Object.freeze({ id: `${config.id}-app`, address: app.host, port: app.port, weight: 1, metadata: Object.freeze({}) });
  let inbound: Listener;
  try {
    inbound = await startInboundListener({
      at: config.inbound.listen,
      protocol: app.protocol,
      target: Object.freeze({ direction: 'inbound', service: config.service, policy: DEFAULT_UPSTREAM_POLICY }),
      app: appEndpoint,
      upstream: appUpstream.send,
      upgrade: createUpgradeUpstream({ unreachable, connectTimeoutMs: config.connectTimeoutMs }),
      context: options.context,
      limits: config.http,
      relay: options.relay,
      ...(options.authorization === undefined ? {} : { authorization: options.authorization }),
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ...(options.layers === undefined ? {} : { layers: options.layers }),
    });
  } catch (err) {
    await appUpstream.close();
    throw err;
  }

  const registration = new Registration({
    client: options.client, service: config.service, id: config.id, ttlMs: config.ttlMs, logger,
    body: {
      address: config.inbound.advertise,
      port: inbound.address.port,
      weight: config.weight,
      metadata: { ...config.metadata, 'trellis.app-port': String(app.port), 'trellis.protocol': app.protocol },
      ttl: config.ttlMs,
    },
  });
  const where = formatHostPort({ host: app.host, port: app.port });
  // Registered only while the app passes and (with mTLS) the sidecar has its certificate.
  let appPassing = false;
  const gate = (): void => registration.setAppPassing(appPassing && (options.tls === undefined || options.tls.identity.current() !== undefined));
  const health = new AppHealth(app.health, { address: app.host, port: app.port }, (passing) => {
    logger.info({ app: where, output: health.state.output }, passing ? 'app is passing its health check' : 'app is failing its health check: heartbeats stop');
    appPassing = passing;
    gate();
    options.onAppHealthChange?.(passing);
  });
  options.tls?.identity.onRenewed(gate);
  health.start();
  return {
    inbound,
    registration,
    health,
    async close() {
      health.stop();
      registration.stop();
      await appUpstream.close();
    },
  };
}
