/**
 * Which pipeline serves a service, by the protocol it speaks. A sidecar builds one
 * outbound pipeline (the same layers, per-service state) per upstream protocol — HTTP/1
 * with undici pools, HTTP/2 streams on long-lived sessions, HTTP/1 upgrades on their own
 * connections — once, at start-up; routing a request picks its service's, so no request
 * pays for a protocol it does not speak.
 */
import { ErrorCodes } from '../errors.js';
import { speaksHttp2, type Protocol } from './config.js';
import { proxyFailure } from './failure.js';
import type { Route } from './http1/serve.js';
import type { Handler, ProxyFailure, Target } from './types.js';

export interface Pipelines {
  /** HTTP/1.1 requests (and raw-TCP services reached by name, as before). */
  readonly http: Handler;
  /** HTTP/2 streams (http2 and grpc services), whatever the client spoke. */
  readonly http2: Handler;
  /** WebSocket (HTTP/1.1 Upgrade) requests to http services. */
  readonly upgrade: Handler;
}

/** The answer to an upgrade request for a service that speaks HTTP/2. */
export function upgradeRefused(service: string, protocol: Protocol): ProxyFailure {
  return proxyFailure(ErrorCodes.BAD_REQUEST, `service ${JSON.stringify(service)} speaks ${protocol} (h2c): WebSocket upgrades go to http services only`);
}

export type ServiceRoute = Route & { readonly failure?: undefined };

export function serviceRoute(target: Target, protocol: Protocol, pipelines: Pipelines): ServiceRoute {
  return Object.freeze(speaksHttp2(protocol)
    ? { target, handler: pipelines.http2, upgrade: upgradeRefused(target.service, protocol) }
    : { target, handler: pipelines.http, upgrade: pipelines.upgrade });
}
