/**
 * The one verdict on a response (linkerd's `http/classify`): retry, outlier detection,
 * the circuit breaker and metrics all read this, never their own reading of the status.
 */
import type { Classification } from './types.js';

/** A 5xx is a failure of the upstream; everything else (1xx–4xx) is the app answering as designed. */
export function classify(status: number): Classification {
  return status >= 500 && status <= 599 ? 'failure' : 'success';
}
