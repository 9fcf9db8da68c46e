/**
 * The data plane's instance side: the inbound listener in front of the local app, with its
 * own pool to the app and this service's authorization (from the snapshot). Registering the
 * instance and gating it on the app's health is the agent's (src/agent/instance.ts).
 * Absent for an outbound-only sidecar (no app).
 */
import type { Endpoint } from '../balancer/types.js';
import { ErrorCodes } from '../errors.js';
import type { AuthorizationTable } from './authorization/table.js';
import { speaksHttp2, type AppConfig, type SidecarConfig } from './config.js';
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

export interface InboundSide {
  readonly listener: Listener;
  /** Close the app's pool (the listener is closed with the others). */
  close(): Promise<void>;
}

export interface InboundSideOptions {
  readonly config: SidecarConfig;
  readonly app: AppConfig;
  readonly context: SiteContext;
  readonly relay: RelayOptions;
  /** This service's authorization policies, enforced on the inbound listener. */
  readonly authorization?: AuthorizationTable;
  /** Mutual TLS for the inbound listener; undefined in mode off. */
  readonly tls: SidecarTls | undefined;
  /** Layers in front of the app (telemetry), outermost first. */
  readonly layers?: readonly Layer[];
}

export async function startInboundSide(options: InboundSideOptions): Promise<InboundSide> {
  const { config, app } = options;
  const unreachable = ErrorCodes.APP_UNAVAILABLE;
  const appUpstream = speaksHttp2(app.protocol)
    ? createHttp2Upstream({ unreachable, connectTimeoutMs: config.connectTimeoutMs })
    : (await http1Protocol(config.http.engine)).upstream({
      unreachable, connectionsPerEndpoint: APP_CONNECTIONS, connectTimeoutMs: config.connectTimeoutMs,
      bodyIdleTimeoutMs: config.http.bodyIdleTimeoutMs, maxHeaderSize: config.http.maxHeaderSize,
    });
  const appEndpoint: Endpoint = Object.freeze({ id: `${config.id}-app`, address: app.host, port: app.port, weight: 1, metadata: Object.freeze({}) });
  try {
    const listener = await startInboundListener({
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
    return { listener, close: () => appUpstream.close() };
  } catch (err) {
    await appUpstream.close();
    throw err;
  }
}
