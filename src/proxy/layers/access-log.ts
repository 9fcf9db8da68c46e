/**
 * Access logs: one JSON line per request (pino, to its own asynchronous destination —
 * src/telemetry/access-log.ts), written when the response head is known:
 *
 *   {"time":…,"direction":"outbound","requestId":"…","traceId":"…","spanId":"…","method":"GET",
 *    "path":"/","service":"my-service","peer":"caller","clientId":"","status":200,
 *    "classification":"success","durationMs":1.2,"upstream":"127.0.0.1:41234","endpointId":"my-service-1"}
 */
import type { Logger } from 'pino';
import type { Layer } from '../types.js';
import { endpointOf } from './outcome.js';
import { callerOf, spanIdOf, traceIdOf } from './propagate.js';

export function createAccessLogLayer(log: Logger, localService: string): Layer {
  return (next) => (request) => next(request).then((outcome) => {
    const { direction, service } = request.target;
    const endpoint = endpointOf(outcome);
    log.info({
      direction,
      requestId: request.id,
      traceId: traceIdOf(request),
      spanId: spanIdOf(request),
      method: request.method,
      path: request.path,
      service,
      peer: direction === 'inbound' ? callerOf(request) : localService,
      clientId: request.peer?.spiffeId ?? '',
      status: outcome.ok ? outcome.response.status : outcome.failure.error.status,
      classification: outcome.ok ? outcome.classification : 'failure',
      ...(outcome.ok ? {} : { error: outcome.failure.error.code }),
      durationMs: Math.round((performance.now() - request.startedAt) * 1000) / 1000,
      upstream: endpoint === undefined ? null : `${endpoint.address}:${endpoint.port}`,
      endpointId: endpoint?.id ?? null,
    });
    return outcome;
  });
}
