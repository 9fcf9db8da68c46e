/**
 * Per-upstream local ports (`upstreams: [{service, port, protocol}]`): an http port sends
 * every request to its service whatever the Host (WebSocket upgrades too); an http2/grpc
 * port takes h2c with prior knowledge (what gRPC clients speak) and sends every stream to
 * its service; a tcp port relays raw connections through the connection stack (../tcp/relay.ts:
 * balanced, retried within the budget when a connect fails, outlier-detected, observed).
 */
import type { HostPort } from '../../util/host-port.js';
import { speaksHttp2, type Protocol } from '../config.js';
import type { Cluster } from '../discovery/cluster.js';
import type { Http1Limits } from '../http1/server.js';
import type { ServiceRoute } from '../routes.js';
import { relayToService, type RelayOptions } from '../tcp/relay.js';
import { startTcpListener } from '../tcp/listener.js';
import { startHttpListener } from './http.js';
import { startHttp2Listener } from './http2.js';
import type { Listener } from './listener.js';
import { fixedSite, type SiteContext } from './site.js';

export interface UpstreamPortOptions {
  readonly at: HostPort;
  /** Where the port sits in the config, for errors (`upstreams.0.port`). */
  readonly field: string;
  readonly protocol: Protocol;
  readonly route: ServiceRoute;
  readonly cluster: Cluster;
  readonly context: SiteContext;
  readonly limits: Http1Limits;
  readonly relay: RelayOptions;
}

export function startUpstreamPortListener(options: UpstreamPortOptions): Promise<Listener> {
  const { route } = options;
  const name = `upstream ${route.target.service}`;
  if (options.protocol === 'tcp') {
    return startTcpListener(name, options.at, options.field, relayToService(route.target, options.relay));
  }
  const site = fixedSite(options.context, route.target, route.handler, route.upgrade, false);
  return speaksHttp2(options.protocol)
    ? startHttp2Listener(name, options.at, options.field, site, options.limits)
    : startHttpListener(name, options.at, options.field, site, options.limits);
}
