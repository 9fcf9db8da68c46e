/**
 * The data plane of a sidecar: listeners and the pipeline of layers, reading only the
 * snapshots the agent publishes (src/proxy/snapshot.ts; the agent is src/agent, and
 * src/agent/sidecar.ts puts the two together).
 *
 *   outbound listener (HTTP proxy / Host) ──┐
 *   per-upstream ports (http | h2c | tcp) ──┼→ outbound pipeline (per protocol) → endpoint tables (snapshot) → peer sidecars
 *   inbound listener (http | h2c | tcp) ────→ authorization (snapshot) → local app (own pool / session)
 *   telemetry (proxy/telemetry.ts): metrics + access-log layers
 *
 * Each request takes the policy of its service from the snapshot current when it arrives
 * (snapshot-routes.ts); the endpoint tables and the authorization follow every publish.
 */
import type { Logger } from 'pino';
import { ThrottledLog } from '../util/throttled-log.js';
import { ErrorCodes, messageOf } from '../errors.js';
import type { SidecarTls } from '../security/mtls/sidecar-tls.js';
import type { HostPort } from '../util/host-port.js';
import { AuthorizationTable } from './authorization/table.js';
import type { SidecarConfig } from './config.js';
import { EndpointTables } from './endpoints.js';
import { startInboundSide } from './instance.js';
import { OutlierDetectors } from './layers/outlier.js';
import type { MirrorCounters } from './layers/mirror.js';
import type { Listener } from './listeners/listener.js';
import { startOutboundListener } from './listeners/outbound.js';
import { siteContext } from './listeners/site.js';
import { startUpstreamPortListener } from './listeners/upstream-port.js';
import { outboundStack } from './pipeline.js';
import { DEFAULT_UPSTREAM_POLICY } from './policy.js';
import type { Pipelines } from './routes.js';
import { SnapshotRoutes } from './snapshot-routes.js';
import type { SnapshotSource } from './snapshot.js';
import { createSidecarTelemetry, type SidecarTelemetry } from './telemetry.js';
import { http1Protocol } from './protocols.js';
import { originOf, type HttpUpstream } from './upstream/origin.js';
import { createHttp2Upstream } from './upstream/http2.js';
import { createUpgradeUpstream } from './upstream/upgrade.js';
import type { RelayOptions } from './tcp/relay.js';
import { createTcpUpstream } from './tcp/upstream.js';
import type { EndpointHandler, Handler, Target } from './types.js';

export interface DataPlaneOptions {
  readonly config: SidecarConfig;
  readonly logger: Logger;
  readonly snapshots: SnapshotSource;
  /** Mutual TLS; undefined in mode off. */
  readonly tls: SidecarTls | undefined;
  /** True while the sidecar drains (the inbound listener refuses new requests). */
  readonly draining: () => boolean;
  /** Jitter source for retry back-off (tests inject one). */
  readonly random?: () => number;
}

export interface DataPlane {
  /** The app's HTTP proxy / Host-header listener. */
  readonly outbound: Listener;
  /** Where other sidecars reach this instance; undefined without an app. */
  readonly inbound: Listener | undefined;
  /** Bound per-upstream ports, by service. */
  readonly upstreamPorts: Readonly<Record<string, HostPort>>;
  readonly listeners: readonly Listener[];
  readonly tables: EndpointTables;
  /** Inbound authorization (undefined without an app). */
  readonly authorization: AuthorizationTable | undefined;
  readonly telemetry: SidecarTelemetry;
  /** What the routes' mirror filters did. */
  readonly mirrors: MirrorCounters;
  /** Requests (or TCP connections) in flight, by side. */
  openConnections(direction: 'inbound' | 'outbound'): number;
  close(): Promise<void>;
}

export async function startDataPlane(options: DataPlaneOptions): Promise<DataPlane> {
  const { config, logger, snapshots, tls } = options;
  const limits = config.http;
  const closers: Array<() => Promise<void> | void> = [];
  const close = async (): Promise<void> => {
    for (const closer of closers.splice(0).reverse()) await closer();
  };
  try {
    const listeners: Listener[] = [];
    const openConnections = (direction: 'inbound' | 'outbound'): number =>
      listeners.reduce((sum, l) => sum + ((l.name === 'inbound') === (direction === 'inbound') ? l.inFlight() : 0), 0);
    const sinkFailures = new ThrottledLog(logger, 'recording a request in the metrics, the access log or the span export failed');
    const telemetry = createSidecarTelemetry(config, openConnections, (err) => sinkFailures.report({ err: messageOf(err) }), {
      service: config.service, instance: config.id, namespace: config.mtls.namespace, spiffeId: () => tls?.identity.current()?.spiffeId,
    });
    closers.push(() => telemetry.close());
    const peerTls = tls === undefined ? {} : { tls: tls.client };
    const detectors = new OutlierDetectors({ stats: telemetry.stats.outlier, onEvent: (event) => logger.info(event, `outlier detection: endpoint ${event.kind}`) });
    const unreachable = ErrorCodes.UPSTREAM_CONNECT;
    const http1: HttpUpstream = (await http1Protocol(limits.engine)).upstream({
      unreachable, connectTimeoutMs: config.connectTimeoutMs, bodyIdleTimeoutMs: limits.bodyIdleTimeoutMs, maxHeaderSize: limits.maxHeaderSize, ...peerTls,
    });
    closers.push(() => http1.close());
    const http2: HttpUpstream = createHttp2Upstream({ unreachable, connectTimeoutMs: config.connectTimeoutMs, ...peerTls });
    closers.push(() => http2.close());
    let retainScheduled = false;
    const zone = config.metadata['zone'];
    const tables: EndpointTables = new EndpointTables({
      snapshots, detectors, ...(zone === undefined || zone === '' ? {} : { zone: { zone } }),
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

    const mirrors: MirrorCounters = { sent: 0, failed: 0, skipped: 0 };
    const stack = (upstream: EndpointHandler, layers = telemetry.layers, routes = true): Handler => outboundStack({
      clusters: (service) => tables.get(service), detectors, upstream, telemetry: layers, stats: telemetry.stats, mirrors, routes, peersAuthenticated: tls !== undefined, ...(options.random === undefined ? {} : { random: options.random }),
    });
    const pipelines: Pipelines = {
      http: stack(http1.send),
      http2: stack(http2.send),
      upgrade: stack(createUpgradeUpstream({ unreachable, connectTimeoutMs: config.connectTimeoutMs, ...peerTls }), telemetry.upgradeLayers),
    };
    // Raw TCP: the same stack, over connections (tcp/relay.ts).
    const relay: RelayOptions = {
      connectTimeoutMs: config.connectTimeoutMs, failures: new ThrottledLog(logger, 'a TCP connection could not be relayed'), ...peerTls,
      outbound: stack(createTcpUpstream({ unreachable, connectTimeoutMs: config.connectTimeoutMs, ...peerTls }), telemetry.connectionLayers, false),
      layers: telemetry.connectionLayers, upgradeLayers: telemetry.upgradeLayers,
    };
    const context = siteContext(logger, limits.replayBufferBytes, options.draining);
    const routes = new SnapshotRoutes(snapshots, config.upstreams, pipelines);
    closers.push(() => routes.close());
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

    let authorization: AuthorizationTable | undefined;
    let inbound: Listener | undefined;
    if (config.app !== undefined) {
      const table = new AuthorizationTable(config.service, logger);
      closers.push(table.follow(snapshots));
      authorization = table;
      const side = await startInboundSide({
        config, app: config.app, context, relay: { ...relay, tls: undefined }, tls, authorization, layers: telemetry.layers,
      });
      closers.push(() => side.close());
      listeners.push(side.listener);
      inbound = side.listener;
    }

    return {
      outbound, inbound, upstreamPorts: Object.freeze(upstreamPorts), listeners, tables, authorization, telemetry, mirrors, openConnections, close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
