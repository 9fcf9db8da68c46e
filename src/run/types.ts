import type { Protocol } from '../proxy/config.js';
import type { MtlsMode } from '../security/mtls/mode.js';
import type { RouteDeclaration } from '../telemetry/routes.js';
import type { NamespaceNetwork } from './netns.js';

/** What `trellis run` (and each replica of `trellis up`) is asked to run: plain data, so it can cross a process boundary. */

export interface UpstreamSpec {
  readonly service: string;
  /** Local port for this upstream; any free port when absent. */
  readonly port?: number;
  /** The rest of the sidecar's upstream entry (protocol, loadBalancer, timeout, retry, …), in its config format. */
  readonly policy?: Readonly<Record<string, unknown>>;
}

/**
 * One more port of the same app, registered as a service of its own (a Kubernetes Service's
 * other ports, `<service>-<port name>`): its own sidecar (inbound listener, registration,
 * health check on that port) in the same replica.
 */
export interface PortSpec {
  readonly service: string;
  /** Instance id: `<service>-<n>`. */
  readonly id: string;
  /** The port the app listens on for it. */
  readonly port: number;
  readonly protocol?: Protocol;
  /** HTTP path answering 2xx on that port; a TCP connect otherwise. */
  readonly healthPath?: string;
  /** Its sidecar's join token (minted for `service`). */
  readonly token?: string;
}

export interface RunSpec {
  readonly service: string;
  readonly id: string;
  /** Program and arguments. */
  readonly command: readonly string[];
  readonly cwd?: string;
  /** Extra environment variables for the app (Trellis's own variables win). */
  readonly env?: Readonly<Record<string, string>>;
  /** The app's port (PORT); a free one is picked when absent. */
  readonly port?: number;
  /** The network namespace the app runs in (src/run/netns.ts); the host's loopback when absent. */
  readonly network?: NamespaceNetwork;
  /** What the app speaks: http (default), http2, grpc (h2c) or tcp. */
  readonly appProtocol?: Protocol;
  /** HTTP path answering 2xx when the app is healthy; a TCP connect otherwise. */
  readonly healthPath?: string;
  readonly healthIntervalMs?: number;
  readonly weight?: number;
  readonly metadata?: Readonly<Record<string, string>>;
  /** This service's named routes (the `route` label of inbound metrics). */
  readonly routes?: readonly RouteDeclaration[];
  readonly upstreams: readonly UpstreamSpec[];
  /** The app's other ports, each registered as a service of its own (none: one port, one registration). */
  readonly ports?: readonly PortSpec[];
  /** Control plane URL. */
  readonly controlPlane: string;
  readonly readyTimeoutMs: number;
  /** The sidecar's join token (crosses to a replica over IPC, never in argv). */
  readonly token?: string;
  /** The CA (PEM) of an https:// control plane (--control-plane-ca). */
  readonly controlPlaneCa?: string;
  /** The sidecar's mTLS mode (default strict). */
  readonly mtlsMode?: MtlsMode;
  /** After SIGTERM, how long the app may take before SIGKILL. */
  readonly stopGraceMs: number;
}

/** What a ready instance reports. */
export interface InstanceInfo {
  readonly service: string;
  readonly id: string;
  readonly appPid: number;
  readonly appPort: number;
  /** Where the sidecar reaches the app: 127.0.0.1, or the app's address in its network namespace. */
  readonly appHost: string;
  /** The network namespace the app runs in, if any. */
  readonly namespace?: string;
  /** The sidecar's admin listener (/metrics, /status, /ready), host:port. */
  readonly admin: string;
  /** host:port the sidecar registered (inbound), as the sidecar reports it. */
  readonly inbound: string;
  /** Whether the sidecar had registered it when it was reported ready (it keeps trying if not). */
  readonly registered: boolean;
  /** The sidecar's outbound listener, http://127.0.0.1:P (TRELLIS_OUTBOUND). */
  readonly outbound: string;
  /** Local port of each upstream. */
  readonly upstreams: Readonly<Record<string, number>>;
  /** The app's other ports, each registered by a sidecar of its own (absent: none). */
  readonly ports?: ReadonlyArray<{ readonly service: string; readonly id: string; readonly appPort: number; readonly inbound: string; readonly admin: string }>;
}

export const RUN_DEFAULTS = {
  readyTimeoutMs: 30_000,
  stopGraceMs: 10_000,
} as const;
