/**
 * The inbound listener: mesh traffic for this instance, forwarded to the local app with
 * its own small connection pool (an app that refuses connections is APP_UNAVAILABLE).
 * While the sidecar drains, new requests are refused with DRAINING and answers close
 * their connections. A tcp app gets raw TCP relayed to it.
 */
import type { Endpoint } from '../../balancer/types.js';
import type { HostPort } from '../../util/host-port.js';
import type { Http1Limits } from '../http1/server.js';
import { inboundStack } from '../pipeline.js';
import { relayTo, type RelayOptions } from '../tcp/relay.js';
import { startTcpListener } from '../tcp/listener.js';
import type { EndpointHandler, Target } from '../types.js';
import { startHttpListener } from './http.js';
import type { Listener } from './listener.js';
import { fixedSite, type SiteContext } from './site.js';

export interface InboundOptions {
  readonly at: HostPort;
  readonly protocol: 'http' | 'tcp';
  readonly target: Target;
  /** The local app, as an endpoint. */
  readonly app: Endpoint;
  /** Sends to the app (an HTTP upstream whose connect failures are APP_UNAVAILABLE). */
  readonly upstream: EndpointHandler;
  readonly context: SiteContext;
  readonly limits: Http1Limits;
  readonly relay: RelayOptions;
}

export function startInboundListener(options: InboundOptions): Promise<Listener> {
  if (options.protocol === 'tcp') {
    return startTcpListener('inbound', options.at, 'inbound.listen', relayTo(options.app.address, options.app.port, options.relay, options.target.service));
  }
  const site = fixedSite(options.context, options.target, inboundStack(options.upstream, options.app), true);
  return startHttpListener('inbound', options.at, 'inbound.listen', site, options.limits);
}
