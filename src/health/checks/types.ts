/**
 * Active health checks: specs (already validated, durations in milliseconds) and the
 * probe contract every check kind implements.
 */
import type { HealthStatus } from '../status.js';

/** Settings shared by every active check kind. */
interface CheckCommon {
  /** Time between the starts of two probes. */
  intervalMs: number;
  /** How long one probe may take before it counts as critical. */
  timeoutMs: number;
  /** Consecutive non-passing probes needed before the reported status leaves passing. */
  failuresBeforeCritical: number;
  /** Consecutive passing probes needed before the reported status becomes passing. */
  successesBeforePassing: number;
  /** The reported status before the thresholds are first crossed. */
  initialStatus: HealthStatus;
}

/** `GET`/`HEAD` a path: 2xx is passing, 429 is warning, anything else is critical. */
export interface HttpCheckSpec extends CheckCommon {
  type: 'http';
  /** Request path (and query), starting with `/`. */
  path: string;
  method: 'GET' | 'HEAD';
  /** Port to probe; defaults to the instance port. */
  port?: number;
  /** Use HTTPS (the server certificate is verified). */
  tls?: boolean;
}

/** Open a TCP connection: connected within the timeout is passing, anything else critical. */
export interface TcpCheckSpec extends CheckCommon {
  type: 'tcp';
  /** Port to probe; defaults to the instance port. */
  port?: number;
}

export type ActiveCheckSpec = HttpCheckSpec | TcpCheckSpec;

/** What a check probes: the instance's address (IPv4, IPv6 or host name) and port. */
export interface CheckTarget {
  address: string;
  port: number;
}

/** The verdict of one probe. */
export interface ProbeResult {
  status: HealthStatus;
  /**
   * Human-readable detail, at most {@link MAX_OUTPUT_BYTES} bytes of UTF-8, e.g.
   * `HTTP GET http://127.0.0.1:8080/healthz: 500 Internal Server Error Output: db down`.
   */
  output: string;
}

/**
 * Probes a target once. A probe never rejects (failures are `critical` results), settles
 * within its spec's `timeoutMs`, and settles promptly once `signal` aborts.
 */
export type Probe = (target: CheckTarget, signal: AbortSignal) => Promise<ProbeResult>;

/** Largest {@link ProbeResult.output}, in bytes (4 KiB, as Consul's default). */
export const MAX_OUTPUT_BYTES = 4096;
