/**
 * Health statuses, as in Consul: `passing` (healthy), `warning` (degraded but still
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
