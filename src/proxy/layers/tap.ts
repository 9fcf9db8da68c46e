/**
 * The live-tap sink of the observation layer (observe.ts): while a tap of this sidecar's
 * traffic is open (src/telemetry/tap.ts), each matching request's summary is held for the next
 * telemetry report. One comparison per request when no tap is open.
 */
import type { TapRecorder } from '../../telemetry/tap.js';
import type { RequestSink } from './observe.js';
import { endpointOf } from './outcome.js';

export function tapSink(recorder: TapRecorder): RequestSink {
  return (r) => {
    const { request } = r;
    const query = request.path.indexOf('?');
    const path = query < 0 ? request.path : request.path.slice(0, query);
    if (!recorder.wants(request.method, path)) return;
    const host = request.headers['host'];
    const endpoint = endpointOf(r.outcome);
    recorder.record({
      at: Date.now(),
      direction: r.direction,
      method: request.method,
      path,
      authority: typeof host === 'string' ? host : '',
      service: request.target.service,
      caller: r.src,
      clientId: r.clientId,
      status: r.status,
      latencyMs: Math.round(r.latencyMs * 1000) / 1000,
      endpoint: endpoint?.id ?? null,
      retries: r.direction === 'outbound' ? Math.max(0, request.tried.size - 1) : 0,
      errorCode: r.error,
      requestId: request.id,
    });
  };
}
