/**
 * The inbound access log (`accessLog: true`): one line per request served to the local app,
 * with the caller's identity as mutual TLS authenticated it (its SPIFFE ID; null for
 * plaintext in permissive mode).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Layer } from '../types.js';

export function createAccessLogLayer(logger: Logger): Layer {
  return (next) => async (request) => {
    const outcome = await next(request);
    logger.info({
      requestId: request.id,
      method: request.method,
      path: request.path,
      status: outcome.ok ? outcome.response.status : outcome.failure.error.status,
      error: outcome.ok ? undefined : outcome.failure.error.code,
      peer: request.peer?.spiffeId ?? null,
      durationMs: Math.round((performance.now() - request.startedAt) * 10) / 10,
    }, 'inbound request');
    return outcome;
  };
}
