/**
 * The outbound listener: the app's requests for other services, addressed by name —
 * as an HTTP proxy (absolute-form, `HTTP_PROXY=http://127.0.0.1:PORT`) or by Host header.
 * The service is the host without its port. A name that is not an upstream of this
 * sidecar is a NO_ROUTE answer naming it.
 */
import { ErrorCodes } from '../../errors.js';
import type { HostPort } from '../../util/host-port.js';
import { proxyFailure } from '../failure.js';
import { ListenerStats } from '../http1/answer.js';
import type { Http1Limits } from '../http1/server.js';
import type { Http1Site, Route } from '../http1/serve.js';
import { hostOf } from '../http1/target-uri.js';
import { DEFAULT_UPSTREAM_POLICY } from '../policy.js';
import type { Target } from '../types.js';
import { startHttpListener } from './http.js';
import type { Listener } from './listener.js';
import type { SiteContext } from './site.js';

export interface OutboundOptions {
  readonly at: HostPort;
  /** The services this sidecar calls, by name: their target and pipelines (per protocol). */
  readonly routes: ReadonlyMap<string, Route>;
  /** Named in answers about no particular service (this sidecar's own service). */
  readonly localTarget: Target;
  readonly context: SiteContext;
  readonly limits: Http1Limits;
}

function outboundSite(options: OutboundOptions): Http1Site {
  const { routes } = options;
  const known = [...routes.keys()].join(', ') || 'none';
  const missingHost: Route = Object.freeze({
    target: options.localTarget,
    failure: proxyFailure(ErrorCodes.BAD_REQUEST, 'the request names no service: send it as http://SERVICE/path through this proxy, or with a Host: SERVICE header'),
  });
  const { context } = options;
  return {
    route(authority) {
      if (authority === undefined || authority === '') return missingHost;
      const service = hostOf(authority);
      return routes.get(service) ?? {
        target: { direction: 'outbound', service, policy: DEFAULT_UPSTREAM_POLICY },
        failure: proxyFailure(ErrorCodes.NO_ROUTE, `no route to service ${JSON.stringify(service)}: it is not an upstream of this sidecar (its upstreams: ${known})`),
      };
    },
    localTarget: options.localTarget,
    draining: () => false, // the app may still call out while its sidecar drains
    replayBufferBytes: context.replayBufferBytes,
    stats: new ListenerStats(),
    logs: context.logs,
    logger: context.logger,
  };
}

export function startOutboundListener(options: OutboundOptions): Promise<Listener> {
  return startHttpListener('outbound', options.at, 'outbound.listen', outboundSite(options), options.limits);
}
