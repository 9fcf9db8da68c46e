/**
 * An HTTP/2 cleartext (h2c, prior knowledge — what gRPC clients speak) server for a
 * listener: Node's http2 core API, every stream served by ./serve.ts. Open sessions are
 * kept in `sessions`, so that draining can close them gracefully (GOAWAY: streams in
 * flight finish, clients open new ones elsewhere) and closing can end them.
 */
import { createServer, type Http2Server, type ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { Http1Limits } from '../http1/server.js';
import type { Http1Site } from '../http1/serve.js';
import { serveStream } from './serve.js';

export function createHttp2Server(site: Http1Site, limits: Http1Limits, sessions: Set<ServerHttp2Session>): Http2Server {
  const server = createServer({ settings: { maxHeaderListSize: limits.maxHeaderSize, enablePush: false } });
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.on('error', () => undefined); // a broken session closes; its streams see their own errors
    session.once('close', () => sessions.delete(session));
  });
  server.on('connection', (socket: Socket) => socket.setNoDelay(true));
  server.on('stream', (stream, headers, flags: number) => serveStream(stream, headers, flags, site));
  return server;
}
