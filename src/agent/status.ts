/** `sidecar.status()`: what the sidecar knows and does, as plain data (for tests, logs and an admin endpoint). */
import type { HealthStatus } from '../core/health.js';
import { formatHostPort } from '../util/host-port.js';
import type { AuthorizationStatus, AuthorizationTable } from '../proxy/authorization/table.js';
import type { SidecarConfig } from '../proxy/config.js';
import type { ClusterStatus, EndpointTables, SyncState } from '../proxy/endpoints.js';
import type { Listener } from '../proxy/listeners/listener.js';
import type { PolicySource, Snapshot } from '../proxy/snapshot.js';
import type { UpstreamPolicy } from '../proxy/types.js';
import type { MirrorCounters } from '../proxy/layers/mirror.js';
import type { AppHealth } from './lifecycle/app-health.js';
import type { Registration, RegistrationState } from './lifecycle/registration.js';
import type { SidecarTls, SidecarTlsStatus } from '../security/mtls/sidecar-tls.js';

export interface SidecarStatus {
  readonly service: string;
  readonly id: string;
  readonly state: 'serving' | 'draining' | 'closed';
  readonly draining: boolean;
  /**
   * connected: following the control plane; stale: it is unreachable and the last
   * endpoint tables are in use; connecting: not reached yet since start-up.
   */
  readonly controlPlane: SyncState;
  readonly app: { readonly status: HealthStatus; readonly output: string } | undefined;
  readonly registration: RegistrationState | undefined;
  /** The presence stream to the control plane is open (undefined without a registration): only then does a kill -9 show in under a second. */
  readonly presence: boolean | undefined;
  /** Heartbeats sent over the keep-alive stream and over plain HTTP, and stream attempts that fell back to HTTP; undefined without a registration. */
  readonly heartbeats: { readonly stream: number; readonly http: number; readonly fallbacks: number } | undefined;
  /** Per upstream service: sync state, revision, registered count, endpoint ids, ejected ids. */
  readonly upstreams: Readonly<Record<string, ClusterStatus>>;
  /** Per listener: bound address, requests (or TCP connections) in flight, and an HTTP listener's counters. */
  readonly listeners: Readonly<Record<string, ListenerStatus>>;
  /** Inbound authorization: policies in force, their sync state, allowed / denied counters. */
  readonly authorization: AuthorizationStatus | undefined;
  /** Mutual TLS: mode, SPIFFE ID, certificate expiry, renewals, handshakes and refusals by reason; undefined when off. */
  readonly mtls: SidecarTlsStatus | undefined;
  /** The snapshot the data plane reads: its version and when the agent published it (epoch ms). */
  readonly snapshot: { readonly version: number; readonly publishedAt: number };
  /** Per upstream service: the resilience policy in force and where it came from (service defaults, local overrides). */
  readonly policies: Readonly<Record<string, { readonly source: PolicySource; readonly policy: UpstreamPolicy }>>;
  /** Per upstream service: the traffic routes in force (names, in precedence order of ties) and the store revision they reflect. */
  readonly routes: Readonly<Record<string, { readonly state: SyncState; readonly revision: number; readonly names: readonly string[] }>>;
  /** Copies the routes' mirror filters sent, lost (failed or 5xx) and skipped (streamed body, too many outstanding). */
  readonly mirrors: MirrorCounters | undefined;
}

export interface ListenerStatus {
  readonly address: string;
  readonly inFlight: number;
  readonly requests?: number;
  readonly clientErrors?: number;
  readonly brokenResponses?: number;
  readonly upgrades?: number;
  /** Client connections open now (the raw HTTP/1 path; node:http does not count them). */
  readonly connections?: number;
}

function listenerStatus(listener: Listener): ListenerStatus {
  const { stats } = listener;
  return {
    address: formatHostPort(listener.address),
    inFlight: listener.inFlight(),
    ...(stats === undefined ? {} : { requests: stats.requests, clientErrors: stats.clientErrors, brokenResponses: stats.brokenResponses, upgrades: stats.upgrades, connections: stats.connections }),
  };
}

export interface StatusParts {
  readonly config: SidecarConfig;
  readonly closed: boolean;
  readonly draining: boolean;
  readonly tables: EndpointTables;
  readonly listeners: readonly Listener[];
  readonly registration: Registration | undefined;
  readonly health: AppHealth | undefined;
  readonly authorization?: AuthorizationTable | undefined;
  readonly tls: SidecarTls | undefined;
  readonly snapshot: Snapshot;
  readonly mirrors?: MirrorCounters | undefined;
}

function controlPlaneState(parts: StatusParts): SyncState {
  const fromTables = parts.tables.state();
  if (fromTables !== undefined) return fromTables;
  const reachable = parts.registration?.reachable ?? parts.tls?.identity.reachable;
  return reachable === undefined ? 'connecting' : reachable ? 'connected' : 'stale';
}

export function sidecarStatus(parts: StatusParts): SidecarStatus {
  return {
    service: parts.config.service,
    id: parts.config.id,
    state: parts.closed ? 'closed' : parts.draining ? 'draining' : 'serving',
    draining: parts.draining,
    controlPlane: controlPlaneState(parts),
    app: parts.health?.state,
    registration: parts.registration?.state,
    presence: parts.registration?.present,
    heartbeats: parts.registration?.heartbeats,
    upstreams: parts.tables.status(),
    listeners: Object.fromEntries(parts.listeners.map((l) => [l.name, listenerStatus(l)])),
    authorization: parts.authorization?.status(),
    mtls: parts.tls?.status(),
    snapshot: { version: parts.snapshot.version, publishedAt: parts.snapshot.publishedAt },
    policies: Object.fromEntries([...parts.snapshot.upstreams].map(([service, view]) => [service, { source: view.policySource, policy: view.policy }])),
    routes: Object.fromEntries([...parts.snapshot.upstreams].map(([service, view]) => [service, { state: view.routesState ?? 'connecting', revision: view.routesRevision ?? 0, names: (view.routes ?? []).map((r) => r.name) }])),
    mirrors: parts.mirrors === undefined ? undefined : { ...parts.mirrors },
  };
}
