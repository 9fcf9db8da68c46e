/**
 * The `http1-node` protocol (`http.engine: node`): node:http's server and undici's pools, the
 * path before the raw-socket one — kept behind the flag while that one is proven.
 */
import type { Duplex } from 'node:stream';
import { createHttp1Server } from '../http1/server.js';
import type { ProtocolModule, ProtocolServer } from '../protocols.js';
import { createHttpUpstream } from '../upstream/http.js';

const module: ProtocolModule = {
  name: 'http1-node',
  server(site, limits): ProtocolServer {
    /** Upgraded (WebSocket) connections: Node's server no longer tracks them. */
    const tunnels = new Set<Duplex>();
    const server = createHttp1Server(site, limits, tunnels);
    // Node's HTTP server starts its headers/request timeout checks on 'listening'; the listener's own socket listens.
    server.emit('listening');
    return {
      accept: (socket) => server.emit('connection', socket),
      stopAccepting: () => server.closeIdleConnections(),
      close() {
        server.closeAllConnections();
        for (const tunnel of tunnels) tunnel.destroy();
        server.close(() => undefined); // stops the timeout checks
      },
    };
  },
  upstream: (options) => createHttpUpstream({
    unreachable: options.unreachable,
    ...(options.connectionsPerEndpoint === undefined ? {} : { connectionsPerEndpoint: options.connectionsPerEndpoint }),
    ...(options.keepAliveTimeoutMs === undefined ? {} : { keepAliveTimeoutMs: options.keepAliveTimeoutMs }),
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  }),
};

export const http1Node = Object.freeze(module);
