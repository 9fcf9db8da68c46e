/**
 * What went wrong talking to an endpoint, as a failure value. `sent` says whether the
 * request was handed to a connected socket: before that (connect refused, unreachable,
 * connect timeout, a pool being closed) the request provably never reached the app, so
 * any method may be retried; after it, only the retry rules for idempotent methods apply.
 */
import type { Endpoint } from '../../balancer/types.js';
import { ErrorCodes, TrellisError, messageOf, type ErrorCode } from '../../errors.js';
import { formatHostPort } from '../../util/host-port.js';
import { proxyFailure } from '../failure.js';
import type { ProxyFailure } from '../types.js';

function errorCode(err: unknown): string | undefined {
  const code: unknown = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** `payments instance payments-2 (127.0.0.1:41234)` */
export function describeEndpoint(service: string, endpoint: Endpoint): string {
  return `${service} instance ${endpoint.id} (${formatHostPort({ host: endpoint.address, port: endpoint.port })})`;
}

export interface FailureContext {
  readonly service: string;
  readonly endpoint: Endpoint;
  /** The request was written to a connected socket. */
  readonly sent: boolean;
  /** The code for "could not connect": UPSTREAM_CONNECT (another sidecar) or APP_UNAVAILABLE (the local app). */
  readonly unreachable: ErrorCode;
}

export function upstreamFailure(err: unknown, context: FailureContext): ProxyFailure {
  const { endpoint } = context;
  if (err instanceof TrellisError) return { error: err, reachedApp: context.sent, endpoint };
  const code = errorCode(err) ?? 'unknown';
  if (code === 'UND_ERR_INVALID_ARG') {
    // undici refused the request itself (http.engine: node): the client's doing, no endpoint's — never blamed on one.
    return proxyFailure(ErrorCodes.BAD_REQUEST, `the request cannot be forwarded as it is: ${messageOf(err)}`, { cause: err });
  }
  const where = describeEndpoint(context.service, endpoint);
  if (!context.sent) {
    return proxyFailure(context.unreachable, `cannot connect to ${where}: ${messageOf(err)} (${code})`, { endpoint, cause: err });
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return proxyFailure(ErrorCodes.UPSTREAM_TIMEOUT, `${where} did not answer in time (${code})`, { reachedApp: true, endpoint, cause: err });
  }
  return proxyFailure(ErrorCodes.UPSTREAM_RESET, `${where} closed the connection before answering: ${messageOf(err)} (${code})`, {
    reachedApp: true, endpoint, cause: err,
  });
}

/** The failure for a request whose signal aborted: the reason when it is ours (a deadline), else a cancellation. */
export function abortedFailure(reason: unknown, context: FailureContext): ProxyFailure {
  if (reason instanceof TrellisError) return { error: reason, reachedApp: context.sent, endpoint: context.endpoint };
  return proxyFailure(ErrorCodes.UPSTREAM_RESET, `the request to ${describeEndpoint(context.service, context.endpoint)} was cancelled: the client went away`, {
    reachedApp: context.sent, endpoint: context.endpoint,
  });
}
