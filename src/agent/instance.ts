/**
 * The agent's instance side: the registration of this instance (the inbound listener's
 * address, the app's port in metadata) and the app's local health check, which gates the
 * heartbeats — registered only while the app passes and (with mTLS) the sidecar holds its
 * certificate. Absent for an outbound-only sidecar (no app).
 */
import type { Logger } from 'pino';
import type { ControlPlaneClient } from '../client/control-plane.js';
import type { AppConfig, SidecarConfig } from '../proxy/config.js';
import type { SidecarTls } from '../security/mtls/sidecar-tls.js';
import { formatHostPort } from '../util/host-port.js';
import { AppHealth } from './lifecycle/app-health.js';
import { Registration } from './lifecycle/registration.js';

export interface AgentInstance {
  readonly registration: Registration;
  readonly health: AppHealth;
  /** Stop the check and the heartbeats. */
  close(): void;
}

export interface AgentInstanceOptions {
  readonly config: SidecarConfig;
  readonly app: AppConfig;
  readonly client: ControlPlaneClient;
  readonly logger: Logger;
  /** The port the inbound listener bound. */
  readonly inboundPort: number;
  readonly tls: SidecarTls | undefined;
  /** Called after the app's local check changes (the telemetry reporter tells the control plane at once). */
  readonly onAppHealthChange?: (passing: boolean) => void;
}

export function startAgentInstance(options: AgentInstanceOptions): AgentInstance {
  const { config, app, logger } = options;
  const registration = new Registration({
    client: options.client, service: config.service, id: config.id, ttlMs: config.ttlMs, logger,
    body: {
      address: config.inbound.advertise,
      port: options.inboundPort,
      weight: config.weight,
      metadata: { ...config.metadata, 'trellis.app-port': String(app.port), 'trellis.protocol': app.protocol },
      ttl: config.ttlMs,
    },
  });
  const where = formatHostPort({ host: app.host, port: app.port });
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
    registration,
    health,
    close() {
      health.stop();
      registration.stop();
    },
  };
}
