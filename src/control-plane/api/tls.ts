/**
 * The API over TLS (`trellis server --api-tls-cert FILE --api-tls-key FILE`): an HTTPS server
 * with TLS 1.2 at least (1.3 preferred by every current client), the given certificate and key.
 * Clients trust it with `--control-plane-ca FILE` / TRELLIS_CONTROL_PLANE_CA.
 */
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

export interface ApiTls {
  /** PEM certificate (chain) and private key. */
  readonly cert: string;
  readonly key: string;
}

/** Fastify's serverFactory: plain HTTP, or HTTPS with the given certificate. */
export function apiServerFactory(tls: ApiTls | undefined): (handler: RequestListener) => Server {
  return (handler) => (tls === undefined
    ? createHttpServer(handler)
    : createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, handler));
}
