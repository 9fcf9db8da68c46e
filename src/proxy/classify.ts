/**
 * The one verdict on a response (linkerd's `http/classify`): retry, outlier detection,
 * the circuit breaker and metrics all read this, never their own reading of the status.
 */
import type { Classification } from './types.js';

/**
 * gRPC statuses that mean the server failed, as a 5xx would (the gRPC → HTTP mapping:
 * UNKNOWN, INTERNAL, DATA_LOSS → 500, UNAVAILABLE → 503, DEADLINE_EXCEEDED → 504). Others
 * (NOT_FOUND, PERMISSION_DENIED, INVALID_ARGUMENT…) are the app answering as designed.
 */
const GRPC_FAILURES = new Set(['2', '4', '13', '14', '15']);

/**
 * A 5xx is a failure of the upstream; everything else (1xx–4xx) is the app answering as
 * designed. `grpcStatus`: the grpc-status of a trailers-only gRPC answer (an error before any
 * message, carried in the response head); a grpc-status that only arrives in trailers after
 * the body is not known when the head is classified.
 */
export function classify(status: number, grpcStatus?: string | string[]): Classification {
  if (status >= 500 && status <= 599) return 'failure';
  return typeof grpcStatus === 'string' && GRPC_FAILURES.has(grpcStatus) ? 'failure' : 'success';
}
