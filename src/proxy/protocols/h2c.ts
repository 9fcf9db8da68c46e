/** The `h2c` protocol: HTTP/2 with prior knowledge (http2 and grpc services) on node:http2, sessions per endpoint upstream. */
import type { ServerHttp2Session } from 'node:http2';
import { createHttp2Server } from '../http2/server.js';
import type { ProtocolModule, ProtocolServer } from '../protocols.js';
import { createHttp2Upstream } from '../upstream/http2.js';

const module: ProtocolModule = {
  name: 'h2c',
  server(site, limits): ProtocolServer {
    const sessions = new Set<ServerHttp2Session>();
    const server = createHttp2Server(site, limits, sessions);
    return {
      accept: (socket) => server.emit('connection', socket),
      // GOAWAY: streams in flight finish; clients open new ones elsewhere.
      stopAccepting: () => { for (const session of sessions) session.close(); },
      close: () => { for (const session of sessions) session.destroy(); },
    };
  },
  upstream: (options) => createHttp2Upstream({
    unreachable: options.unreachable,
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  }),
};

export const h2c = Object.freeze(module);
