/**
 * The route-match layer: the first of the traffic-route layers (src/proxy/routing). It finds
 * the rule of the service's routes that the request matches (path, method, headers, query),
 * picks one of the rule's backends by weight, and passes the request on with that backend's
 * target — the subset the balancer picks from, and the rule's timeouts and retries — and the
 * matched rule, which the filter layers after it read. A service without routes, or a
 * request no rule matches, passes as it came.
 */
import { ErrorCodes } from '../../errors.js';
import { failed, proxyFailure } from '../failure.js';
import { chooseBackend } from '../routing/table.js';
import type { Layer } from '../types.js';

export function createRouteMatchLayer(random: () => number = Math.random): Layer {
  return (next) => (request) => {
    const table = request.target.routes;
    if (table === undefined || table.size === 0) return next(request);
    const route = table.match(request.method, request.path, request.headers);
    if (route === undefined) return next(request);
    const backend = chooseBackend(route.rule, random());
    if (backend === undefined) {
      return Promise.resolve(failed(proxyFailure(ErrorCodes.NO_HEALTHY_ENDPOINT, `route ${route.rule.route} rule ${route.rule.index} of ${table.service} has no backend with a weight above 0`)));
    }
    return next({ ...request, target: backend.target, route });
  };
}
