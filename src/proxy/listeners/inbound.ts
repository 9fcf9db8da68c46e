/**
 * The inbound listener: mesh traffic for this instance, forwarded to the local app with
 * its own small connection pool (an app that refuses connections is APP_UNAVAILABLE).
 * While the sidecar drains, new requests are refused with DRAINING and answers close
 * their connections. An http app also gets WebSocket upgrades relayed; an http2/grpc app
 * is reached over h2c and its listener takes h2c from the peer sidecars; a tcp app gets
 * raw TCP relayed to it.
 */
import type { Endpoint } from '../../balancer/types.js';
import { ALPN_H2, ALPN_HTTP1 } from '../../security/mtls/client.js';
import { peerOf } from '../../security/mtls/peer.js';
import type { SidecarTls } from '../../security/mtls/sidecar-tls.js';
import type { HostPort } from '../../util/host-port.js';
import { speaksHttp2, type Protocol } from '../config.js';
import type { Http1Limits } from '../http1/server.js';
import type { AuthorizationTable } from '../authorization/table.js';
import { inboundStack } from '../pipeline.js';
import { upgradeRefused } from '../routes.js';
import { authorizeConnections } from '../tcp/authorize.js';
import { relayToApp, type RelayOptions } from '../tcp/relay.js';
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
  /** The service's authorization policies; absent = no authorization. */
  readonly authorization?: AuthorizationTable;
  /** Mutual TLS in front of the listener (strict or permissive); absent in mode off. */
  readonly tls?: SidecarTls;
  /** Layers in front of the app (telemetry: propagate, metrics, access log), outermost first. */
  readonly layers?: readonly Layer[];
}

export function startInboundListener(options: InboundOptions): Promise<Listener> {
  const { protocol, target, app, context, authorization, tls } = options;
  if (protocol === 'tcp') {
    const relay = relayToApp(target, app, options.relay, peerOf);
    return startTcpListener('inbound', options.at, 'inbound.listen', authorization === undefined ? relay : authorizeConnections(authorization, relay, {
      identify: peerOf,
      onUnavailable: (socket) => options.relay.failures.report({ service: target.service, remoteAddress: socket.remoteAddress, err: 'no authorization policy read yet' }),
    }), tls?.inboundFront(undefined));
  }
  const tables = authorization === undefined ? undefined : (service: string) => (service === authorization.service ? authorization : undefined);
  const handler = inboundStack(options.upstream, app, options.layers, tables);
  if (speaksHttp2(protocol)) {
    const site = fixedSite(context, target, handler, upgradeRefused(target.service, protocol), true);
    return startHttp2Listener('inbound', options.at, 'inbound.listen', site, options.limits, tls?.inboundFront(ALPN_H2));
  }
  const site = fixedSite(context, target, handler, inboundStack(options.upgrade, app, options.relay.upgradeLayers ?? options.layers, tables), true);
  return startHttpListener('inbound', options.at, 'inbound.listen', site, options.limits, tls?.inboundFront(ALPN_HTTP1));
}
