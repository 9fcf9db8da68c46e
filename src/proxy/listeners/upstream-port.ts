/**
 * Per-upstream local ports (`upstreams: [{service, port, protocol}]`): an http port sends
 * every request to its service whatever the Host; a tcp port relays raw connections to a
 * picked endpoint of the service, trying another endpoint when a connect fails.
 */
import type { HostPort } from '../../util/host-port.js';
import type { Cluster } from '../discovery/cluster.js';
import type { Http1Limits } from '../http1/server.js';
import { relayToCluster, type RelayOptions } from '../tcp/relay.js';
import { startTcpListener } from '../tcp/listener.js';
import type { Handler, Target } from '../types.js';
import { startHttpListener } from './http.js';
import type { Listener } from './listener.js';
import { fixedSite, type SiteContext } from './site.js';

export interface UpstreamPortOptions {
  readonly at: HostPort;
  /** Where the port sits in the config, for errors (`upstreams.0.port`). */
  readonly field: string;
  readonly protocol: 'http' | 'tcp';
  readonly target: Target;
  readonly cluster: Cluster;
  readonly handler: Handler;
  readonly context: SiteContext;
  readonly limits: Http1Limits;
  readonly relay: RelayOptions;
}

export function startUpstreamPortListener(options: UpstreamPortOptions): Promise<Listener> {
  const name = `upstream ${options.target.service}`;
  if (options.protocol === 'tcp') {
    const attempts = Math.max(1, options.target.policy.retry.maxAttempts);
    return startTcpListener(name, options.at, options.field, relayToCluster(options.cluster, attempts, options.relay));
  }
  return startHttpListener(name, options.at, options.field, fixedSite(options.context, options.target, options.handler, false), options.limits);
}
