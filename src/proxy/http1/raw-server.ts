/**
 * The raw-socket HTTP/1.1 server of a listener: each accepted connection (plain, or secured
 * by the mTLS front) becomes a {@link ServerConnection}; one sweep per listener, at a
 * quarter of the header timeout (50 ms – 1 s), checks every connection's header, request,
 * idle and stalled-reader timeouts — no timer per request. A connection that opens with
 * the HTTP/2 preface goes to a node:http2 server serving the same site (h2 and gRPC stay on
 * node:http2), made the first time one comes.
 */
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { ProtocolServer } from '../protocols.js';
import { createHttp2Server } from '../http2/server.js';
import { ServerConnection, type ConnectionHost, type RawLimits } from './connection.js';
import type { Http1Site } from './serve.js';

export function createRawHttp1Server(site: Http1Site, limits: RawLimits): ProtocolServer {
  const connections = new Set<ServerConnection>();
  const tunnels = new Set<Duplex>();
  const sessions = new Set<ServerHttp2Session>();
  let http2: Http2Server | undefined;
  const host: ConnectionHost = {
    site,
    limits,
    connections,
    tunnels,
    http2: (socket: Socket) => {
      http2 ??= createHttp2Server(site, limits, sessions);
      http2.emit('connection', socket);
    },
  };
  const interval = Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4)));
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const connection of connections) connection.sweep(now);
  }, interval);
  sweep.unref();
  return {
    accept(socket) {
      // It lives on the socket's listeners (and in `connections`) until the socket closes.
      new ServerConnection(socket as Socket, host);
    },
    stopAccepting() {
      for (const connection of connections) connection.closeIdle();
      for (const session of sessions) session.close();
    },
    close() {
      clearInterval(sweep);
      for (const connection of connections) connection.destroy();
      for (const tunnel of tunnels) tunnel.destroy();
      for (const session of sessions) session.destroy();
    },
  };
}
