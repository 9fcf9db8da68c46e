/**
 * The API's server: plain HTTP, or HTTPS (`trellis server --api-tls-cert FILE --api-tls-key
 * FILE`) with TLS 1.2 at least (1.3 preferred by every current client), the given certificate
 * and key. Clients trust it with `--control-plane-ca FILE` / TRELLIS_CONTROL_PLANE_CA.
 * The header and request timeouts are checked every second (Node's default: every 30 s, which
 * let a slow client hold a connection long past its timeout), and a TLS handshake gets no longer
 * than the request head would (./listener-limits.ts).
 */
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { TIMEOUT_CHECK_INTERVAL_MS, type ListenerLimits } from './listener-limits.js';

export interface ApiTls {
  /** PEM certificate (chain) and private key. */
  readonly cert: string;
  readonly key: string;
}

/** Fastify's serverFactory: plain HTTP, or HTTPS with the given certificate. */
export function apiServerFactory(tls: ApiTls | undefined, limits: ListenerLimits): (handler: RequestListener) => Server {
  const http = {
    connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    headersTimeout: limits.headerTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // A missing Host is refused by app.ts in the API's error shape (Node's own 400 has no body).
    requireHostHeader: false,
  };
  return (handler) => (tls === undefined
    ? createHttpServer(http, handler)
    : createHttpsServer({ ...http, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2', handshakeTimeout: limits.headerTimeoutMs }, handler));
}
