/**
 * The node:http server of the `http1-node` protocol (`http.engine: node`): Node's parser with the configured limits
 * (maxHeaderSize, headersTimeout, requestTimeout, keep-alive) — no hand-written parsing.
 * What the parser rejects is answered through rescue.ts; CONNECT tunnels are refused;
 * upgrades (WebSocket) are relayed (./upgrade.ts), their connections kept in `tunnels`.
 */
import { createServer, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorCodes } from '../../errors.js';
import { proxyFailure } from '../failure.js';
import { writeRawFailure } from './answer.js';
import { clientErrorFailure, type ParserLimits } from './client-error.js';
import { serveRequest, type Http1Site } from './serve.js';
import { serveUpgrade } from './upgrade.js';

export interface Http1Limits extends ParserLimits {
  /** Idle keep-alive connections from clients close after this long. */
  readonly keepAliveTimeoutMs: number;
  /** Which HTTP/1.1 carrier serves the listener: raw sockets (default) or node:http. */
  readonly engine?: 'raw' | 'node';
}

export function createHttp1Server(site: Http1Site, limits: Http1Limits, tunnels: Set<Duplex>): Server {
  const server = createServer({
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often Node checks for the two timeouts above (its default, 30 s, is too coarse for short limits).
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
    requireHostHeader: false,
    noDelay: true,
  }, (req, res) => serveRequest(req, res, site));

  server.on('clientError', (err: Error & { code?: string }, socket) => {
    const failure = clientErrorFailure(err, limits);
    if (failure === undefined) {
      socket.destroy();
      return;
    }
    site.stats.clientErrors += 1;
    site.logs.clientError.report({ code: err.code, error: failure.error.code });
    writeRawFailure(socket, failure, site.localTarget);
  });

  server.on('upgrade', (req, socket, head: Buffer) => serveUpgrade(req, req.headers.upgrade ?? '', socket, head, site, tunnels));

  server.on('connect', (_req, socket) => {
    site.stats.clientErrors += 1;
    writeRawFailure(socket, proxyFailure(ErrorCodes.BAD_REQUEST,
      'CONNECT tunnels are not supported: send plain HTTP requests such as http://SERVICE/path to this proxy'), site.localTarget);
  });
  return server;
}
