/**
 * One service's xDS resources, generated from what the registry and the service defaults say
 * (pure functions; the JSON form that protobufjs encodes, with `@type` for every Any):
 *
 *   Listener <svc>                 an API listener (what gRPC clients resolve `xds:///<svc>` to):
 *                                  the HTTP connection manager, RDS over ADS, the router filter
 *   RouteConfiguration <svc>       the service's traffic routes, then its default route (routes.ts)
 *   Cluster <svc>, <svc>/k=v       EDS over ADS (one per subset a route sends traffic to); ROUND_ROBIN, or RING_HASH for ring-hash/maglev;
 *                                  the concurrency limit (A32) and outlier detection (A50)
 *   ClusterLoadAssignment <svc>    the healthy, non-drained instances, by locality (metadata
 *                                  region / zone / sub-zone), each locality weighted by the sum
 *                                  of its instances' weights
 */
import { isIP } from 'node:net';
import type { UpstreamPolicy } from '../../proxy/types.js';
import { isHealthy, type InstanceRecord } from '../../registry/types.js';
import { EXTENSION_TYPES, TYPE_URLS } from './protos.js';
import { upstreamTransportSocket } from './tls.js';

/** A resource in protobufjs's JSON form: `@type` names its message. */
export type ResourceBody = { readonly '@type': string } & Readonly<Record<string, unknown>>;

export type InstanceView = Pick<InstanceRecord, 'id' | 'address' | 'port' | 'weight' | 'metadata' | 'status'>;

/** Strategies placing requests by a hash of a key: a ring hash in gRPC. */
export const HASHING: ReadonlySet<string> = new Set(['ring-hash', 'maglev']);

export function duration(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

export const ADS_SOURCE = Object.freeze({ ads: {}, resource_api_version: 'V3' });

export function listener(service: string): ResourceBody {
  return {
    '@type': TYPE_URLS.listener,
    name: service,
    api_listener: {
      api_listener: {
        '@type': EXTENSION_TYPES.httpConnectionManager,
        stat_prefix: service,
        rds: { route_config_name: service, config_source: ADS_SOURCE },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': EXTENSION_TYPES.router } }],
      },
    },
  };
}

/** Cluster `name` (the service, or one of its subsets): EDS of the same name; with `serverIdentity`, mTLS to that SPIFFE ID (tls.ts). */
export function cluster(name: string, policy: UpstreamPolicy, serverIdentity?: string): ResourceBody {
  const od = policy.outlierDetection;
  const hashing = HASHING.has(policy.loadBalancer.strategy);
  return {
    '@type': TYPE_URLS.cluster,
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: ADS_SOURCE, service_name: name },
    lb_policy: hashing ? 'RING_HASH' : 'ROUND_ROBIN',
    ...(hashing ? { ring_hash_lb_config: { minimum_ring_size: { value: 1024 }, maximum_ring_size: { value: 8_388_608 } } } : {}),
    ...(serverIdentity === undefined ? {} : { transport_socket: upstreamTransportSocket(serverIdentity) }),
    circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_requests: { value: policy.circuitBreaker.maxConcurrent } }] },
    // gRPC implements success-rate and failure-percentage ejection only (not consecutive errors):
    // an endpoint failing half of at least 10 calls in a second is ejected, with Trellis's times.
    outlier_detection: {
      interval: duration(1_000),
      base_ejection_time: duration(od.baseEjectionMs),
      max_ejection_time: duration(od.maxEjectionMs),
      max_ejection_percent: { value: od.maxEjectionPercent },
      enforcing_success_rate: { value: 0 },
      enforcing_failure_percentage: { value: od.consecutive5xx === 0 ? 0 : 100 },
      failure_percentage_threshold: { value: 50 },
      failure_percentage_minimum_hosts: { value: 2 },
      failure_percentage_request_volume: { value: 10 },
    },
  };
}

/** What gRPC clients can dial: healthy, not drained, an IP address (gRPC's EDS takes no host names). */
export function reachable(instance: InstanceView): boolean {
  return isHealthy(instance) && instance.weight > 0 && isIP(instance.address) !== 0;
}

export function loadAssignment(service: string, instances: Iterable<InstanceView>): ResourceBody {
  const localities = new Map<string, { locality: Record<string, string>; weight: number; endpoints: unknown[] }>();
  for (const instance of instances) {
    if (!reachable(instance)) continue;
    const m = instance.metadata;
    const locality = { region: m['region'] ?? '', zone: m['zone'] ?? '', sub_zone: m['sub-zone'] ?? '' };
    const key = `${locality.region}/${locality.zone}/${locality.sub_zone}`;
    const entry = localities.get(key) ?? { locality, weight: 0, endpoints: [] as unknown[] };
    localities.set(key, entry);
    entry.weight += instance.weight;
    entry.endpoints.push({
      endpoint: { address: { socket_address: { address: instance.address, port_value: instance.port } }, hostname: instance.id },
      health_status: 'HEALTHY',
      load_balancing_weight: { value: instance.weight },
    });
  }
  return {
    '@type': TYPE_URLS.endpoint,
    cluster_name: service,
    endpoints: [...localities.values()].map((l) => ({ locality: l.locality, load_balancing_weight: { value: l.weight }, lb_endpoints: l.endpoints })),
  };
}
