/**
 * The inbound listener: mesh traffic for this instance, forwarded to the local app with
 * its own small connection pool (an app that refuses connections is APP_UNAVAILABLE).
 * While the sidecar drains, new requests are refused with DRAINING and answers close
 * their connections. An http app also gets WebSocket upgrades relayed; an http2/grpc app
 * is reached over h2c and its listener takes h2c from the peer sidecars; a tcp app gets
 * raw TCP relayed to it.
 */
import type { Endpoint } from '../../balancer/types.js';
import type { HostPort } from '../../util/host-port.js';
import { speaksHttp2, type Protocol } from '../config.js';
import type { Http1Limits } from '../http1/server.js';
import { inboundStack } from '../pipeline.js';
import { upgradeRefused } from '../routes.js';
import { relayTo, type RelayOptions } from '../tcp/relay.js';
import { startTcpListener } from '../tcp/listener.js';
import type { EndpointHandler, Layer, Target } from '../types.js';
import { startHttpListener } from './http.js';
import { startHttp2Listener } from './http2.js';
import type { Listener } from './listener.js';
import { fixedSite, type SiteContext } from './site.js';

export interface InboundOptions {
  readonly at: HostPort;
  readonly protocol: Protocol;
  readonly target: Target;
  /** The local app, as an endpoint. */
  readonly app: Endpoint;
  /** Sends to the app in its protocol (connect failures are APP_UNAVAILABLE). */
  readonly upstream: EndpointHandler;
  /** Sends WebSocket upgrades to an http app. */
  readonly upgrade: EndpointHandler;
  readonly context: SiteContext;
  readonly limits: Http1Limits;
  readonly relay: RelayOptions;
  /** Layers in front of the app (telemetry), outermost first. */
  readonly layers?: readonly Layer[];
}

export function startInboundListener(options: InboundOptions): Promise<Listener> {
  const { protocol, target, app, context } = options;
  if (protocol === 'tcp') {
    return startTcpListener('inbound', options.at, 'inbound.listen', relayTo(app.address, app.port, options.relay, target.service));
  }
  const handler = inboundStack(options.upstream, app, options.layers);
  if (speaksHttp2(protocol)) {
    const site = fixedSite(context, target, handler, upgradeRefused(target.service, protocol), true);
    return startHttp2Listener('inbound', options.at, 'inbound.listen', site, options.limits);
  }
  const site = fixedSite(context, target, handler, inboundStack(options.upgrade, app, options.layers), true);
  return startHttpListener('inbound', options.at, 'inbound.listen', site, options.limits);
}
