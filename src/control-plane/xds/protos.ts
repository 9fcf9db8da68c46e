/**
 * The Envoy xDS protos, as shipped by @grpc/grpc-js-xds (deps/envoy-api, xds, googleapis,
 * protoc-gen-validate), loaded once with @grpc/proto-loader. Every resource type the server
 * sends is loaded into the same root, so a resource given as `{ '@type': TYPE_URL, …fields }`
 * is encoded into a google.protobuf.Any by protobufjs's own Any mapping (the JSON form).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

export const TYPE_URLS = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
} as const;

export type ResourceKind = keyof typeof TYPE_URLS;
export type TypeUrl = (typeof TYPE_URLS)[ResourceKind];

export const EXTENSION_TYPES = {
  httpConnectionManager: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  ringHash: 'type.googleapis.com/envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash',
  rbac: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  upstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  downstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
} as const;

const FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
];

let ads: ServiceDefinition | undefined;

/** A resource encoded once as a google.protobuf.Any, sent as is to every stream. */
export interface EncodedAny {
  readonly type_url: string;
  readonly value: Buffer;
}

/**
 * Encode `resource` (protobufjs JSON with `@type`) into an Any once: through the
 * DiscoveryResponse codec, the one the streams use, so a push to N streams encodes nothing.
 */
export function encodeAny(resource: { readonly '@type': string }): EncodedAny {
  const method = adsService()['StreamAggregatedResources'];
  const decoded = method.responseDeserialize(method.responseSerialize({ resources: [resource] })) as { resources: EncodedAny[] };
  const any = decoded.resources[0];
  return Object.freeze({ type_url: any.type_url, value: Buffer.from(any.value) });
}

/** The AggregatedDiscoveryService definition (loaded on first use: ~100 ms of parsing). */
export function adsService(): ServiceDefinition {
  if (ads !== undefined) return ads;
  const require = createRequire(import.meta.url);
  const root = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  const definition = loadSync(FILES, {
    keepCase: true, longs: String, enums: String, defaults: false, oneofs: true,
    includeDirs: ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => join(root, dir)),
  });
  ads = definition['envoy.service.discovery.v3.AggregatedDiscoveryService'] as ServiceDefinition;
  return ads;
}
