/**
 * The inbound Listener of a proxyless gRPC server (gRFC A36): an xDS-enabled gRPC server
 * (`XdsServer` of @grpc/grpc-js-xds) bound to IP:PORT asks for the listener named by the
 * bootstrap's template, `grpc/server?xds.resource.listening_address=IP:PORT`, and serves only
 * once it has it. Trellis answers for every registered instance at an IP address (healthy or not, drained or
 * not: without its listener an XdsServer stops serving): the
 * instance's address, one filter chain with the HTTP connection manager, an inline route
 * configuration (every call: non-forwarding, served by the server itself), the service's RBAC
 * filters (rbac.ts) and the router; with mesh mTLS, the downstream TLS context (tls.ts).
 * An address no instance is registered at has no listener: a proxyless server registers its
 * instance first, then binds.
 */
import { formatHostPort } from '../../util/host-port.js';
import { EXTENSION_TYPES, TYPE_URLS } from './protos.js';
import type { ResourceBody } from './resources.js';
import { downstreamTransportSocket } from './tls.js';

export const SERVER_LISTENER_TEMPLATE = 'grpc/server?xds.resource.listening_address=%s';

export function serverListenerName(address: string, port: number): string {
  return SERVER_LISTENER_TEMPLATE.replace('%s', formatHostPort({ host: address, port }));
}

export function serverListener(service: string, address: string, port: number, rbac: readonly Record<string, unknown>[], mtls: boolean): ResourceBody {
  return {
    '@type': TYPE_URLS.listener,
    name: serverListenerName(address, port),
    address: { socket_address: { address, port_value: port } },
    filter_chains: [{
      name: `${service}-inbound`,
      filters: [{
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type': EXTENSION_TYPES.httpConnectionManager,
          stat_prefix: `${service}-inbound`,
          route_config: {
            name: `${service}-inbound`,
            virtual_hosts: [{ name: service, domains: ['*'], routes: [{ name: 'serve', match: { prefix: '' }, non_forwarding_action: {} }] }],
          },
          // Last, as xDS wants; optional, as grpc-js-xds (1.14) has no server-side router and refuses a required one.
          http_filters: [...rbac, { name: 'envoy.filters.http.router', typed_config: { '@type': EXTENSION_TYPES.router }, is_optional: true }],
        },
      }],
      ...(mtls ? { transport_socket: downstreamTransportSocket() } : {}),
    }],
  };
}
