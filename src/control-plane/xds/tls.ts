/**
 * Mutual TLS for proxyless gRPC (gRFC A29): the transport sockets of clusters (the client's
 * side) and of inbound listeners (the server's side), both with the certificate provider
 * instance `trellis` of the node's bootstrap — the file-watcher provider reading the workload's
 * certificate, key and CA bundle that `trellis identity` keeps fresh in a directory
 * (`trellis xds bootstrap --cert-dir DIR`). Clients and servers need xDS credentials
 * (`XdsChannelCredentials` / `XdsServerCredentials` of @grpc/grpc-js-xds) to use them.
 *
 * The client checks that the server's certificate chains to the mesh's CA and that its URI SAN
 * is the SPIFFE ID of the service it called (`match_subject_alt_names`); the server requires a
 * client certificate chaining to the same CA, whose identity the RBAC filter then reads.
 */
import { EXTENSION_TYPES } from './protos.js';

/** The certificate provider instance a Trellis bootstrap declares. */
export const CERTIFICATE_PROVIDER = 'trellis';

const PROVIDER = Object.freeze({ instance_name: CERTIFICATE_PROVIDER, certificate_name: 'default' });

export function upstreamTransportSocket(serverIdentity: string): Record<string, unknown> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': EXTENSION_TYPES.upstreamTls,
      common_tls_context: {
        tls_certificate_provider_instance: PROVIDER,
        validation_context: { ca_certificate_provider_instance: PROVIDER, match_subject_alt_names: [{ exact: serverIdentity }] },
      },
    },
  };
}

export function downstreamTransportSocket(): Record<string, unknown> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': EXTENSION_TYPES.downstreamTls,
      common_tls_context: {
        tls_certificate_provider_instance: PROVIDER,
        validation_context: { ca_certificate_provider_instance: PROVIDER },
      },
      require_client_certificate: { value: true },
    },
  };
}
