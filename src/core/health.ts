/**
 * Health, as every layer sees it: statuses and active-check specs (shared by the registry,
 * which stores them, the health checker, which runs them, and the sidecar's app check).
 *
 * Statuses, as in Consul: `passing` (healthy), `warning` (degraded but still
 * serving, e.g. an HTTP check answered 429) and `critical` (down).
 */
export type HealthStatus = 'passing' | 'warning' | 'critical';

/** Every status, from best to worst. */
export const HEALTH_STATUSES: readonly HealthStatus[] = ['passing', 'warning', 'critical'];

const severity: Record<HealthStatus, number> = { passing: 0, warning: 1, critical: 2 };

/**
 * The worst of several statuses (critical > warning > passing), e.g. an instance's
 * status from its checks' statuses. An empty list is `passing`: nothing is failing.
 */
export function worstStatus(statuses: readonly HealthStatus[]): HealthStatus {
  let worst: HealthStatus = 'passing';
  for (const status of statuses) {
    if (severity[status] > severity[worst]) worst = status;
  }
  return worst;
}

/** Active health checks: specs, already validated, durations in milliseconds. */
/** Settings shared by every active check kind. */
export interface CheckCommon {
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

