/**
 * The outlier-detection layer: records how every attempt went against the endpoint it
 * went to, for that service's {@link OutlierDetector} (./outlier-detector.ts). The
 * balance layer reads `detectors.for(service).ejected()` and skips those endpoints.
 *
 * Sits inside the retry layer, so that each attempt counts. What counts is the verdict's
 * (../classify.ts): only attempts it blames on the endpoint (5xx, connect failure, reset,
 * timeout — a per-try timeout too, in the connect-failure streak: a hung endpoint) count against it;
 * an endpoint's success clears its streaks; the client's failures (a 4xx, a bad request, the
 * client gone) and the proxy's (denied, no endpoint) say nothing about it and are not counted.
 */
import { verdictOf, type Verdict } from '../classify.js';
import type { Layer } from '../types.js';
import type { OutlierDetectors, OutlierResult } from './outlier-detector.js';
import { endpointOf } from './outcome.js';

export { maxEjected, OUTLIER_COUNTERS, OutlierDetector, OutlierDetectors } from './outlier-detector.js';
export type {
  OutlierCounter,
  OutlierDetectorOptions,
  OutlierDetectorsOptions,
  OutlierEvent,
  OutlierResult,
  OutlierSettings,
} from './outlier-detector.js';

/** How an attempt counts for outlier detection, by its verdict; undefined when it does not count. */
export function outlierResult(verdict: Verdict): OutlierResult | undefined {
  if (verdict.blame !== 'endpoint') return verdict.class === 'success' || verdict.class === 'client-error' ? 'success' : undefined;
  switch (verdict.class) {
    case 'connect-failure': return 'connect-failure';
    case 'reset': return 'reset';
    case 'timeout': return 'timeout';
    default: return 'http-5xx';
  }
}

export function createOutlierLayer(detectors: OutlierDetectors): Layer {
  return (next) => (request) => next(request).then((outcome) => {
    const endpoint = endpointOf(outcome);
    const result = endpoint === undefined ? undefined : outlierResult(verdictOf(request, outcome));
    if (endpoint !== undefined && result !== undefined) {
      const { service, policy } = request.target;
      detectors.for(service, policy.outlierDetection).record(endpoint.id, result);
    }
    return outcome;
  });
}
