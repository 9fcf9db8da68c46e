/**
 * Words the data plane and telemetry share: which side of the sidecar a request passed, and
 * the verdict on its response (src/proxy/classify.ts computes it; metrics count it).
 */

export type Direction = 'inbound' | 'outbound';

/** The one verdict on a response, read by retry, outlier detection and metrics. */
export type Classification = 'success' | 'failure';
