/**
 * The sidecar (`trellis proxy`), one per service instance: the agent (src/agent/agent.ts)
 * and the data plane (src/proxy/sidecar.ts), joined by the snapshot the agent publishes and
 * the data plane reads — plus the admin listener and the telemetry reporter.
 *
 *   agent: control-plane client · certificates / sessions · endpoint, service-defaults and
 *          policy following · registration, heartbeats, presence · telemetry reports
 *     └─ publishes Snapshot v1, v2, … (endpoints by service, per-upstream policy, authorization, TLS)
 *   data plane: listeners → pipeline of layers, reading the current snapshot only
 *
 * `drain()` (SIGTERM): stop accepting inbound connections, deregister, let in-flight
 * requests finish within drainTimeout, then close. The outbound side keeps serving the
 * app until the close, so that requests it is finishing can still call out.
 */
import type { Logger } from 'pino';
import { ErrorCodes, TrellisError } from '../errors.js';
import { parseSidecarConfig, type SidecarConfig, type SidecarConfigInput } from '../proxy/config.js';
import type { Listener } from '../proxy/listeners/listener.js';
import { startDataPlane } from '../proxy/sidecar.js';
import type { SidecarTls } from '../security/mtls/sidecar-tls.js';
import { startAdminServer } from '../telemetry/admin-server.js';
import { createLogger } from '../telemetry/logger.js';
import type { SidecarMetrics } from '../telemetry/metrics.js';
import { TelemetryReporter } from './reporter.js';
import { formatHostPort, type HostPort } from '../util/host-port.js';
import { startAgent } from './agent.js';
import { sidecarStatus, type SidecarStatus } from './status.js';

export type { SidecarStatus };

/** How long start-up waits for the first endpoint tables before it reports ready anyway. */
const INITIAL_SYNC_TIMEOUT_MS = 5_000;

export interface SidecarOptions {
  /** The config as written (see src/proxy/config.ts); validated here. */
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
  let draining = false;
  const closers: Array<() => Promise<void> | void> = [];
  const close = async (): Promise<void> => {
    for (const closer of closers.splice(0).reverse()) await closer();
  };

  try {
    const agent = await startAgent({ config, logger, token: options.token, ...(options.controlPlaneCa === undefined ? {} : { controlPlaneCa: options.controlPlaneCa }) });
    closers.push(() => agent.close());
    await agent.follow(INITIAL_SYNC_TIMEOUT_MS);
    const { tls, snapshots } = agent;
    const data = await startDataPlane({
      config, logger, snapshots, tls, draining: () => draining, ...(options.random === undefined ? {} : { random: options.random }),
    });
    closers.push(() => data.close());
    const { telemetry, tables, listeners, authorization } = data;
    tls?.stats.onFailure((failure) => telemetry.metrics?.tlsHandshakeFailed(failure.side));

    let reporter: TelemetryReporter | undefined;
    const inbound = data.inbound;
    const instance = inbound === undefined ? undefined : agent.register(inbound.address.port, () => reporter?.reportNow());
    const registration = instance?.registration;
    const health = instance?.health;

    let closed = false;
    let drained: Promise<void> | undefined;
    const closeOnce = async (): Promise<void> => {
      closed = true;
      await close();
    };
    const status = (): SidecarStatus => sidecarStatus({ config, closed, draining, tables, listeners, registration, health, authorization, tls, snapshot: snapshots.current(), mirrors: data.mirrors });
    const admin = await startAdminServer(config.admin.listen, {
      metrics: telemetry.metrics,
      status,
      ready: () => !closed && !draining && (registration === undefined || registration.state === 'registered'),
    });
    closers.push(() => admin.close());
    const started: TelemetryReporter = new TelemetryReporter({
      client: agent.client, service: config.service, id: config.id, intervalMs: config.telemetry.reportMs, logger,
      metrics: telemetry.metrics, admin: formatHostPort(admin.address), tap: telemetry.tap, stats: telemetry.stats, status, openConnections: () => data.openConnections('inbound') + data.openConnections('outbound'),
    });
    reporter = started;
    closers.push(() => started.stop());
    started.start();

    const sidecar: Sidecar = {
      config,
      inbound: inbound?.address,
      outbound: data.outbound.address,
      upstreamPorts: data.upstreamPorts,
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
      outbound: formatHostPort(data.outbound.address),
      admin: formatHostPort(admin.address),
      upstreams: Object.fromEntries(Object.entries(data.upstreamPorts).map(([service, at]) => [service, formatHostPort(at)])),
      controlPlane: config.controlPlane,
      mtls: tls === undefined ? 'off' : { mode: tls.mode, spiffeId: tls.identity.current()?.spiffeId ?? null },
      snapshot: snapshots.current().version,
    }, 'sidecar ready');
    return sidecar;
  } catch (err) {
    await close();
    throw err;
  }
}
