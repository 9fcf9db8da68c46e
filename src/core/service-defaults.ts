/**
 * Per-service resilience defaults (what Consul calls service-defaults / service-resolver):
 * the timeouts, retries, circuit breaker, outlier detection and load balancer every
 * caller's sidecar uses for calls to one service. Stored one key each under
 * `/config/service-defaults/<service>`; a sidecar's own upstream entry overrides them
 * field by field (docs/proxy.md#where-an-upstreams-policy-comes-from).
 */

import type { ConfigEvent, StoredConfig } from './config-kind.js';

/** One service's defaults as stored: the upstream-policy fields (src/proxy/policy.ts) as written, `{ timeout: "2s", retry: { maxAttempts: 2 } }`, validated whole. */
export type ServiceDefaults = StoredConfig<'service', 'policy', Readonly<Record<string, unknown>>>;

/** The field names of service-defaults watch events. */
export const SERVICE_DEFAULTS_FIELDS = Object.freeze({ nameField: 'service', itemField: 'serviceDefaults' } as const);

/** A change to the defaults a watcher follows. */
export type ServiceDefaultsEvent = ConfigEvent<'service', 'serviceDefaults', ServiceDefaults>;
