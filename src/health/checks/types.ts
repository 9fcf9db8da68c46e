/**
 * The probe contract every active check kind implements. The specs themselves (validated,
 * durations in milliseconds) are shared types in src/core/health.ts.
 */
import type { HealthStatus } from '../../core/health.js';

export type { ActiveCheckSpec, HttpCheckSpec, TcpCheckSpec } from '../../core/health.js';

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
