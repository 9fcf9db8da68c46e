/**
 * The one place that turns a failure the proxy itself answers into an HTTP answer
 * (linkerd's `rescue`). Users of other meshes fight opaque 503s; ours explain themselves:
 *
 *     HTTP/1.1 503 Service Unavailable
 *     trellis-error: TRELLIS_ERR_NO_HEALTHY_ENDPOINT
 *     content-type: application/json
 *
 *     {"error":{"code":"TRELLIS_ERR_NO_HEALTHY_ENDPOINT","service":"payments","direction":"outbound",
 *       "message":"no healthy instance of payments: 3 registered, 2 critical, 1 ejected by outlier
 *       detection — see `trellis instances payments` for each instance's health checks"}}
 *
 * A gRPC request gets the same failure as a gRPC status instead (a "trailers-only" answer:
 * HTTP 200, `grpc-status`, `grpc-message` with the same sentence, `trellis-error` as
 * metadata): UNAVAILABLE when no instance can take the call, DEADLINE_EXCEEDED for timeouts.
 *
 * The division of work: whoever makes a failure writes what happened into the error's
 * message, with the facts only it knows (the instance, the counts, the underlying error);
 * this module picks the status (from the code, src/errors.ts), makes sure the service is
 * named, adds what the user can do about it, and sets the headers (`Retry-After` where
 * waiting helps).
 */
import { ErrorCodes, type ErrorCode } from '../errors.js';
import { formatHostPort } from '../util/host-port.js';
import type { ProxyFailure, Target } from './types.js';

export interface FailureAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** The codes of answers the proxy makes itself. */
export type ProxyErrorCode =
  | typeof ErrorCodes.NO_ROUTE
  | typeof ErrorCodes.NO_HEALTHY_ENDPOINT
  | typeof ErrorCodes.CIRCUIT_OPEN
  | typeof ErrorCodes.UPSTREAM_TIMEOUT
  | typeof ErrorCodes.UPSTREAM_CONNECT
  | typeof ErrorCodes.UPSTREAM_RESET
  | typeof ErrorCodes.APP_UNAVAILABLE
  | typeof ErrorCodes.DRAINING
  | typeof ErrorCodes.BAD_REQUEST
  | typeof ErrorCodes.HEADERS_TOO_LARGE
  | typeof ErrorCodes.REQUEST_TIMEOUT
  | typeof ErrorCodes.FORBIDDEN
  | typeof ErrorCodes.POLICY_UNAVAILABLE
  | typeof ErrorCodes.RATE_LIMITED
  | typeof ErrorCodes.FAULT_INJECTED
  | typeof ErrorCodes.UNAUTHENTICATED
  | typeof ErrorCodes.BODY_TOO_LARGE;

/** Seconds a client should wait after a CIRCUIT_OPEN: in-flight requests finish quickly. */
const CIRCUIT_OPEN_RETRY_AFTER_SECONDS = 1;

/** What the user can do, per code. */
const remedies: { readonly [C in ProxyErrorCode]: (service: string) => string } = {
  [ErrorCodes.NO_ROUTE]: (s) => `check the service name ${JSON.stringify(s)}, or declare it among this sidecar's upstreams`,
  [ErrorCodes.NO_HEALTHY_ENDPOINT]: (s) => `see \`trellis instances ${s}\` for each instance's health checks`,
  [ErrorCodes.CIRCUIT_OPEN]: (s) => `retry shortly; if ${s} can take more concurrent requests, raise its circuitBreaker.maxConcurrent or maxPending`,
  [ErrorCodes.UPSTREAM_TIMEOUT]: (s) => `if ${s} is expected to take this long, raise its timeout (or perTryTimeout); otherwise look at why it is slow`,
  [ErrorCodes.UPSTREAM_CONNECT]: (s) => `the instance may have stopped: see \`trellis instances ${s}\`; it leaves rotation once its health check or outlier detection notices`,
  [ErrorCodes.UPSTREAM_RESET]: (s) => `${s} may have crashed or closed the connection early: check its logs`,
  [ErrorCodes.APP_UNAVAILABLE]: (s) => `check that the ${s} app beside this sidecar is running and listening on the port the sidecar was given`,
  [ErrorCodes.DRAINING]: () => 'this instance is shutting down: send the request again and another instance will answer',
  [ErrorCodes.BAD_REQUEST]: () => 'fix the request: the proxy could not read it as HTTP',
  [ErrorCodes.HEADERS_TOO_LARGE]: () => "send smaller headers (cookies are the usual culprit), or raise the sidecar's header size limit",
  [ErrorCodes.REQUEST_TIMEOUT]: () => 'the client sent its request too slowly: send the whole request at once',
  [ErrorCodes.FORBIDDEN]: (s) => `if this caller should be let in, change the policies of ${s}: \`trellis policy list --service ${s}\`, and \`trellis policy check\` to try a change`,
  [ErrorCodes.POLICY_UNAVAILABLE]: () => 'retry shortly; if it lasts, check that this sidecar reaches the control plane',
  [ErrorCodes.RATE_LIMITED]: (s) => `wait as Retry-After says; if ${s} should take more, raise the route's localRateLimit (\`trellis route list --service ${s}\`)`,
  [ErrorCodes.FAULT_INJECTED]: (s) => `a route of ${s} injects this fault on purpose: \`trellis route list --service ${s}\` shows it`,
  [ErrorCodes.UNAUTHENTICATED]: () => 'send a valid token (Authorization: Bearer JWT) or API key, as WWW-Authenticate says',
  [ErrorCodes.BODY_TOO_LARGE]: () => "send a smaller body, or raise the gateway's limits.maxBodyBytes",
};

function remedyFor(code: ErrorCode, service: string): string | undefined {
  return Object.hasOwn(remedies, code) ? remedies[code as ProxyErrorCode](service) : undefined;
}

/** Whether `text` names `service` as a whole word (service names are DNS labels). */
function names(text: string, service: string): boolean {
  let at = text.indexOf(service);
  while (at !== -1) {
    const before = text[at - 1];
    const after = text[at + service.length];
    if ((before === undefined || !/[A-Za-z0-9-]/.test(before)) && (after === undefined || !/[A-Za-z0-9-]/.test(after))) return true;
    at = text.indexOf(service, at + 1);
  }
  return false;
}

/** The sentence in the body: what happened to which service, and what to do about it. */
export function explain(failure: ProxyFailure, target: Target): string {
  const { error } = failure;
  const what = error.message.trim().replace(/[.\s]+$/, '');
  const named = names(what, target.service) ? what : `${target.service}: ${what}`;
  const remedy = remedyFor(error.code, target.service);
  return remedy === undefined ? named : `${named} — ${remedy}`;
}

/** The HTTP answer for a failure the proxy makes itself. */
export function failureResponse(failure: ProxyFailure, target: Target): FailureAnswer {
  const { error, endpoint } = failure;
  const headers: Record<string, string> = { 'content-type': 'application/json', 'trellis-error': error.code };
  const retryAfter = failure.retryAfterSeconds ?? (error.code === ErrorCodes.CIRCUIT_OPEN ? CIRCUIT_OPEN_RETRY_AFTER_SECONDS : undefined);
  if (retryAfter !== undefined) headers['retry-after'] = String(Math.max(0, Math.ceil(retryAfter)));
  if (failure.headers !== undefined) Object.assign(headers, failure.headers);
  const body = JSON.stringify({
    error: {
      code: error.code,
      message: explain(failure, target),
      service: target.service,
      direction: target.direction,
      ...failure.answer,
      ...(endpoint === undefined ? {} : { endpoint: { id: endpoint.id, address: formatHostPort({ host: endpoint.address, port: endpoint.port }) } }),
    },
  });
  return { status: failure.status ?? error.status, headers, body };
}

/** gRPC status codes (grpc/doc/statuscodes.md) the proxy answers with. */
export const GrpcStatus = {
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const grpcStatusByCode: Partial<Record<ErrorCode, number>> = {
  [ErrorCodes.UPSTREAM_TIMEOUT]: GrpcStatus.DEADLINE_EXCEEDED,
  [ErrorCodes.NO_HEALTHY_ENDPOINT]: GrpcStatus.UNAVAILABLE,
  [ErrorCodes.UPSTREAM_CONNECT]: GrpcStatus.UNAVAILABLE,
  [ErrorCodes.UPSTREAM_RESET]: GrpcStatus.UNAVAILABLE,
  [ErrorCodes.APP_UNAVAILABLE]: GrpcStatus.UNAVAILABLE,
  [ErrorCodes.DRAINING]: GrpcStatus.UNAVAILABLE,
  [ErrorCodes.CIRCUIT_OPEN]: GrpcStatus.UNAVAILABLE,
  [ErrorCodes.NO_ROUTE]: GrpcStatus.UNIMPLEMENTED,
  [ErrorCodes.HEADERS_TOO_LARGE]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCodes.FORBIDDEN]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCodes.UNAUTHENTICATED]: GrpcStatus.UNAUTHENTICATED,
  [ErrorCodes.POLICY_UNAVAILABLE]: GrpcStatus.UNAVAILABLE,
  [ErrorCodes.RATE_LIMITED]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCodes.FAULT_INJECTED]: GrpcStatus.UNAVAILABLE,
};

/** grpc-message is percent-encoded UTF-8: bytes outside printable ASCII, and `%` itself. */
function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The headers of a trailers-only gRPC answer (with `:status` 200) for a failure the proxy makes itself. */
export function grpcFailureHeaders(failure: ProxyFailure, target: Target): Record<string, string> {
  const { code } = failure.error;
  return {
    'content-type': 'application/grpc',
    'grpc-status': String(grpcStatusByCode[code] ?? GrpcStatus.INTERNAL),
    'grpc-message': percentEncode(explain(failure, target)),
    'trellis-error': code,
  };
}
