/**
 * Trellis as a library: the mesh in the app's own process, no sidecar. `createMeshClient`
 * runs the sidecar's agent (the control-plane client, a session or a workload certificate
 * it renews itself, a watch of each upstream's endpoints and service defaults, kept when the
 * control plane goes away) and the sidecar's outbound data path (the same layers, balancer
 * strategies, outlier detectors and upstream pool, from src/proxy), and offers it as an undici
 * Dispatcher: `request('http://my-service/…', { dispatcher: mesh.dispatcher })`, or
 * `setGlobalDispatcher(mesh.dispatcher)` for fetch.
 */
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { startAgent, type Agent } from '../agent/agent.js';
import { TelemetryReporter } from '../agent/reporter.js';
import { ErrorCodes } from '../errors.js';
import { parseSidecarConfig, type SidecarConfigInput } from '../proxy/config.js';
import { EndpointTables } from '../proxy/endpoints.js';
import { OutlierDetectors } from '../proxy/layers/outlier.js';
import { outboundStack } from '../proxy/pipeline.js';
import { http1Protocol } from '../proxy/protocols.js';
import { SnapshotRoutes } from '../proxy/snapshot-routes.js';
import type { SyncState } from '../proxy/snapshot.js';
import { originOf } from '../proxy/upstream/origin.js';
import { createSidecarTelemetry } from '../proxy/telemetry.js';
import { createLogger } from '../telemetry/logger.js';
import { MeshDispatcher } from './dispatcher.js';
import type { ControlPlaneClient } from '../client/control-plane.js';
import type { Handler, Target } from '../proxy/types.js';

export interface MeshClientOptions {
  /** The service this app runs as (its identity, its token's service). */
  readonly service: string;
  /** The control plane's URL (or several replicas, comma-separated). */
  readonly controlPlane: string;
  /** A join token for `service` (`trellis token create --service NAME`). */
  readonly token: string;
  /** The services the app calls, each a name or `{ service, ...policy }` as in a sidecar config. */
  readonly upstreams: SidecarConfigInput['upstreams'];
  /** Mutual TLS to sidecar-fronted instances (`strict`, the sidecar's default) or plaintext (`off`). */
  readonly mtls?: 'strict' | 'off';
  readonly controlPlaneCa?: string;
  readonly logger?: Logger;
}

export interface MeshClient {
  readonly dispatcher: Dispatcher;
  /** The pipeline and target in force for `service`, for carriers of their own (the gateway); undefined when not called. */
  route(service: string): { readonly target: Target; readonly handler: Handler } | undefined;
  /** The client of the control plane, signed in as `service` (the gateway follows its own routes with it). */
  readonly controlPlane: ControlPlaneClient;
  /** Whether each upstream's endpoint table follows the control plane (`stale`: kept from before it went away). */
  state(): Readonly<Record<string, SyncState>>;
  close(): Promise<void>;
}

/** Start the mesh client; resolves once the upstreams' endpoint tables synced (or after `syncTimeoutMs`, default 5 s). */
export async function createMeshClient(options: MeshClientOptions, syncTimeoutMs = 5_000): Promise<MeshClient> {
  const logger = options.logger ?? createLogger({ level: 'warn', name: `trellis-client ${options.service}` });
  const config = parseSidecarConfig({
    service: options.service, controlPlane: options.controlPlane, upstreams: options.upstreams,
    mtls: { mode: options.mtls ?? 'strict' },
  });
  const closers: Array<() => Promise<void> | void> = [];
  const close = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) await c();
  };
  try {
    const agent: Agent = await startAgent({ config, logger, token: options.token, ...(options.controlPlaneCa === undefined ? {} : { controlPlaneCa: options.controlPlaneCa }) });
    closers.push(() => agent.close());
    await agent.follow(syncTimeoutMs);
    let inFlight = 0;
    const telemetry = createSidecarTelemetry(config, () => inFlight);
    closers.push(() => telemetry.close());
    const detectors = new OutlierDetectors({ stats: telemetry.stats.outlier, onEvent: (event) => logger.info(event, `outlier detection: endpoint ${event.kind}`) });
    const http1 = (await http1Protocol(config.http.engine)).upstream({
      unreachable: ErrorCodes.UPSTREAM_CONNECT, connectTimeoutMs: config.connectTimeoutMs, bodyIdleTimeoutMs: config.http.bodyIdleTimeoutMs,
      maxHeaderSize: config.http.maxHeaderSize, ...(agent.tls === undefined ? {} : { tls: agent.tls.client }),
    });
    closers.push(() => http1.close());
    const tables: EndpointTables = new EndpointTables({
      snapshots: agent.snapshots, detectors,
      onChange: () => queueMicrotask(() => http1.retain(new Set(Array.from(tables.endpoints(), originOf)))),
    });
    closers.push(() => tables.close());
    const stack = outboundStack({ clusters: (service) => tables.get(service), detectors, upstream: http1.send, telemetry: telemetry.layers, stats: telemetry.stats, peersAuthenticated: agent.tls !== undefined });
    const http: typeof stack = async (request) => {
      inFlight += 1;
      try { return await stack(request); } finally { inFlight -= 1; }
    };
    const routes = new SnapshotRoutes(agent.snapshots, config.upstreams, { http, http2: http, upgrade: http });
    closers.push(() => routes.close());
    const services = config.upstreams.map((u) => u.service);
    // The same golden metrics as a sidecar's, reported to the control plane: `trellis edges` shows this app's calls.
    const reporter = new TelemetryReporter({
      client: agent.client, service: config.service, id: config.id, intervalMs: config.telemetry.reportMs, logger,
      metrics: telemetry.metrics, stats: telemetry.stats, openConnections: () => inFlight,
      // No admin listener in an app (nothing for Prometheus to scrape), and no live tap yet.
      admin: null, tap: undefined,
      status: () => ({
        app: undefined, registration: undefined, controlPlane: config.controlPlane,
        upstreams: Object.fromEntries(services.map((s) => {
          const status = tables.get(s)?.status();
          return [s, { state: status?.state ?? 'connecting', endpoints: status?.endpoints ?? [], ejected: status?.ejected ?? [] }];
        })),
        mtls: agent.tls === undefined ? undefined : { spiffeId: agent.tls.identity.current()?.spiffeId ?? null, notAfter: agent.tls.identity.current()?.notAfter.toISOString() ?? null },
      }),
    });
    if (config.telemetry.reportMs > 0) {
      reporter.start();
      closers.push(() => reporter.stop());
    }
    const dispatcher = new MeshDispatcher({
      target: (service) => routes.target(service),
      handler: (service) => routes.get(service)?.handler,
      services,
    }, config.http.replayBufferBytes);
    return {
      dispatcher,
      route: (service) => {
        const target = routes.target(service);
        const handler = routes.get(service)?.handler;
        return target === undefined || handler === undefined ? undefined : { target, handler };
      },
      controlPlane: agent.client,
      state: () => Object.fromEntries(services.map((s) => [s, agent.snapshots.current().upstreams.get(s)?.state ?? 'connecting'])),
      close: async () => { await dispatcher.close(); await close(); },
    };
  } catch (err) {
    await close();
    throw err;
  }
}
