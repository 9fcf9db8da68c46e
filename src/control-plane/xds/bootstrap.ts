/**
 * The bootstrap file of a proxyless gRPC client (gRFC A27; GRPC_XDS_BOOTSTRAP names it):
 * where the xDS server is, who the node is, and the token it authenticates with (in the node
 * metadata, which every gRPC xDS client sends on its first request). With a certificate
 * directory, the file-watcher certificate provider of gRFC A29 (`trellis` instance) reads the
 * workload's certificate, key and trust bundle from it.
 */
import { hostname } from 'node:os';

export interface BootstrapOptions {
  /** host:port of the xDS server. */
  readonly server: string;
  readonly service: string;
  readonly token: string;
  /** A node id; default trellis~<service>~<host>. */
  readonly nodeId?: string;
  /** Files of the file-watcher certificate provider. */
  readonly certificates?: { readonly certificateFile: string; readonly privateKeyFile: string; readonly caCertificateFile: string; readonly refreshSeconds?: number };
}

export const TOKEN_METADATA_KEY = 'TRELLIS_TOKEN';

export function bootstrapFor(options: BootstrapOptions): Record<string, unknown> {
  const certs = options.certificates;
  return {
    xds_servers: [{ server_uri: options.server, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: {
      id: options.nodeId ?? `trellis~${options.service}~${hostname()}`,
      cluster: options.service,
      locality: {},
      metadata: { [TOKEN_METADATA_KEY]: options.token, TRELLIS_SERVICE: options.service },
    },
    server_listener_resource_name_template: 'grpc/server?xds.resource.listening_address=%s',
    ...(certs === undefined ? {} : {
      certificate_providers: {
        trellis: {
          plugin_name: 'file_watcher',
          config: {
            certificate_file: certs.certificateFile,
            private_key_file: certs.privateKeyFile,
            ca_certificate_file: certs.caCertificateFile,
            refresh_interval: `${certs.refreshSeconds ?? 10}s`,
          },
        },
      },
    }),
  };
}
