/**
 * The metrics layer: one `record()` per request into the sidecar's registry
 * (src/telemetry/metrics.ts) when its outcome is known — the response's classification
 * from classify.ts, or for an answer the proxy makes itself, the status rescue.ts will
 * give it (the error's) and `failure`. Outbound it sits outside the retry layer, so a
 * request counts once however many attempts it took (retries have their own counter).
 */
import type { SidecarMetrics } from '../../telemetry/metrics.js';
import type { Layer } from '../types.js';
import { callerOf } from './propagate.js';

export function createMetricsLayer(metrics: SidecarMetrics, localService: string): Layer {
  return (next) => (request) => next(request).then((outcome) => {
    const { direction, service } = request.target;
    const inbound = direction === 'inbound';
    const src = inbound ? callerOf(request) : localService;
    const clientId = inbound ? request.peer?.spiffeId ?? '' : '';
    const latencyMs = performance.now() - request.startedAt;
    if (outcome.ok) metrics.record(direction, src, service, clientId, outcome.response.status, outcome.classification, '', latencyMs);
    else metrics.record(direction, src, service, clientId, outcome.failure.error.status, 'failure', outcome.failure.error.code, latencyMs);
    return outcome;
  });
}
