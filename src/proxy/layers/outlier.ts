/**
 * The outlier-detection layer: records how every attempt went against the endpoint it
 * went to, for that service's {@link OutlierDetector} (./outlier-detector.ts). The
 * balance layer reads `detectors.for(service).ejected()` and skips those endpoints.
 *
 * Sits inside the retry layer, so that each attempt counts. The verdict comes from the
 * outcome: the response's classification (5xx = failure), or the failure's code.
 * Attempts we cut short ourselves because the client went away say nothing about the
 * endpoint and are not counted; timeouts are, in the connect-failure streak (a hung endpoint).
 */
import { ErrorCodes, type ErrorCode } from '../../errors.js';
import type { CancelSignal } from '../cancel.js';
import type { Layer, Outcome } from '../types.js';
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

/**
 * Failures that blame the endpoint. Others (a request body too large to replay, a proxy
 * error) say nothing about it and are not counted.
 */
const resultByCode: ReadonlyMap<ErrorCode, OutlierResult> = new Map<ErrorCode, OutlierResult>([
  [ErrorCodes.UPSTREAM_CONNECT, 'connect-failure'],
  [ErrorCodes.APP_UNAVAILABLE, 'connect-failure'],
  [ErrorCodes.UPSTREAM_RESET, 'reset'],
  [ErrorCodes.UPSTREAM_TIMEOUT, 'timeout'],
]);

/** How an attempt counts for outlier detection; undefined when it does not count. */
export function outlierResult(outcome: Outcome, signal: CancelSignal): OutlierResult | undefined {
  if (outcome.ok) return outcome.classification === 'failure' ? 'http-5xx' : 'success';
  const { code } = outcome.failure.error;
  // Aborted for any reason but a deadline: the client went away, the endpoint is not to blame.
  if (signal.aborted && code !== ErrorCodes.UPSTREAM_TIMEOUT) return undefined;
  return resultByCode.get(code);
}

export function createOutlierLayer(detectors: OutlierDetectors): Layer {
  return (next) => (request) => next(request).then((outcome) => {
    const endpoint = endpointOf(outcome);
    const result = endpoint === undefined ? undefined : outlierResult(outcome, request.signal);
    if (endpoint !== undefined && result !== undefined) {
      const { service, policy } = request.target;
      detectors.for(service, policy.outlierDetection).record(endpoint.id, result);
    }
    return outcome;
  });
}
