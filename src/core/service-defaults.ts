/**
 * Per-service resilience defaults (what Consul calls service-defaults / service-resolver):
 * the timeouts, retries, circuit breaker, outlier detection and load balancer every
 * caller's sidecar uses for calls to one service. Stored one key each under
 * `/config/service-defaults/<service>`; a sidecar's own upstream entry overrides them
 * field by field (docs/proxy.md#where-an-upstreams-policy-comes-from).
 */

/** One service's defaults as stored: the policy fields as written (validated whole). */
export interface ServiceDefaults {
  readonly service: string;
  /** The upstream-policy fields (src/proxy/policy.ts), as written: `{ timeout: "2s", retry: { maxAttempts: 2 } }`. */
  readonly policy: Readonly<Record<string, unknown>>;
  /** The store revision of its last write. */
  readonly revision: number;
}

/** A change to the defaults a watcher follows. */
export type ServiceDefaultsEvent =
  | { readonly revision: number; readonly type: 'put'; readonly service: string; readonly serviceDefaults: ServiceDefaults }
  | { readonly revision: number; readonly type: 'delete'; readonly service: string };
