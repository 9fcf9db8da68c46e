/**
 * The one verdict on an outcome (linkerd's `http/classify`): retry, outlier detection, the
 * balancer's feedback and metrics all read {@link verdictOf}, never their own reading of a
 * status or an error code.
 *
 * A verdict says three things:
 *   - `class`: what happened (a success, the app's 4xx, its 5xx, a connect failure, a reset,
 *     a timeout, the client gone, a request the proxy refused…);
 *   - `blame`: whose fault — the `endpoint` (it failed to connect, reset, timed out, answered
 *     5xx: counted against it by outlier detection), the `client` (a bad request, a 4xx, the
 *     client went away: never counted against an endpoint), the `proxy` (policy: denied, no
 *     endpoint to send to, circuit open, or our own bug), or `none` (a success);
 *   - `retryable`: whether the retry rules allow another attempt — method idempotency,
 *     whether the attempt reached the app, the statuses in `retry.retryOnStatus` — worked
 *     out here once. The retry layer adds only its bounds (attempts, budget, deadline, a body
 *     that can be sent again).
 *
 * A peer sidecar's own 503 with `trellis-error: TRELLIS_ERR_APP_UNAVAILABLE` (it could not
 * connect to its app) is judged as that instance's connect failure with the app never reached:
 * retried whatever the method, and counted in the connect-failure streak. That header is
 * believed only on an answer {@link vouchForPeerAnswer} marked: one that came over mutual TLS
 * from a sidecar of the service called (the balance layer marks it when the stack's peers are
 * authenticated). Anywhere else — mTLS off, so anything listening at the address could have
 * said it — the 503 is an ordinary server error: a POST is not sent again. (The peer's inbound
 * side also removes any `trellis-error` its app set: layers/app-answer.ts.)
 *
 * The verdict is one per outcome (and request): the first reader (the balance layer,
 * innermost, or an outer layer for outcomes the proxy made) judges it and later readers get
 * the same one, even if the request's signal aborted in between (see {@link verdictOf}).
 */
import { ErrorCodes, type ErrorCode } from '../errors.js';
import type { Classification, Outcome, ProxyRequest, ProxyResponse } from './types.js';

/**
 * gRPC statuses that mean the server failed, as a 5xx would (the gRPC → HTTP mapping:
 * UNKNOWN, INTERNAL, DATA_LOSS → 500, UNAVAILABLE → 503, DEADLINE_EXCEEDED → 504). Others
 * (NOT_FOUND, PERMISSION_DENIED, INVALID_ARGUMENT…) are the app answering as designed.
 */
const GRPC_FAILURES = new Set(['2', '4', '13', '14', '15']);

/**
 * A response head's classification, for producers (the upstreams) to put in their Outcome:
 * a 5xx is a failure of the upstream; everything else (1xx–4xx) is the app answering as
 * designed. `grpcStatus`: the grpc-status of a trailers-only gRPC answer (an error before any
 * message, carried in the response head); a grpc-status that only arrives in trailers after
 * the body is not known when the head is classified.
 */
export function classify(status: number, grpcStatus?: string | string[]): Classification {
  if (status >= 500 && status <= 599) return 'failure';
  return typeof grpcStatus === 'string' && GRPC_FAILURES.has(grpcStatus) ? 'failure' : 'success';
}

export type VerdictClass =
  /** A response the app gave as designed: 1xx–3xx, a gRPC status that is not a server failure. */
  | 'success'
  /** A 4xx response from the app: the request was refused as designed. */
  | 'client-error'
  /** A 5xx response, or a gRPC failure status in the head. */
  | 'server-error'
  /** The endpoint could not be reached (refused, unreachable, connect or handshake timeout). */
  | 'connect-failure'
  /** The endpoint closed or reset the connection before answering. */
  | 'reset'
  /** A deadline passed (the whole request's or one attempt's) while waiting for the endpoint. */
  | 'timeout'
  /** The client went away (or cancelled) before the answer: says nothing about the endpoint. */
  | 'cancelled'
  /** The proxy refused the client's request as malformed or too large (400, 408, 413, 431). */
  | 'invalid'
  /** Refused by policy or state: denied by authorization, no endpoint, circuit open, draining. */
  | 'denied'
  /** Any other failure of the proxy's own making (a bug: INTERNAL). */
  | 'error';

export type Blame = 'none' | 'endpoint' | 'client' | 'proxy';

export interface Verdict {
  readonly class: VerdictClass;
  readonly blame: Blame;
  /** The retry rules allow another attempt (the retry layer's bounds apart). */
  readonly retryable: boolean;
}

/** Methods that may be sent twice with the effect of once (RFC 9110 §9.2.2). */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method) || IDEMPOTENT_METHODS.has(method.toUpperCase());
}

/** The class of a failure value by its code; codes not listed are `error` (the proxy's). */
const FAILURE_CLASSES: ReadonlyMap<ErrorCode, VerdictClass> = new Map<ErrorCode, VerdictClass>([
  [ErrorCodes.UPSTREAM_CONNECT, 'connect-failure'],
  [ErrorCodes.APP_UNAVAILABLE, 'connect-failure'],
  [ErrorCodes.UPSTREAM_RESET, 'reset'],
  [ErrorCodes.UPSTREAM_TIMEOUT, 'timeout'],
  [ErrorCodes.BAD_REQUEST, 'invalid'],
  [ErrorCodes.HEADERS_TOO_LARGE, 'invalid'],
  [ErrorCodes.BODY_TOO_LARGE, 'invalid'],
  [ErrorCodes.REQUEST_TIMEOUT, 'invalid'],
  [ErrorCodes.FORBIDDEN, 'denied'],
  [ErrorCodes.POLICY_UNAVAILABLE, 'denied'],
  [ErrorCodes.NO_ROUTE, 'denied'],
  [ErrorCodes.NO_HEALTHY_ENDPOINT, 'denied'],
  [ErrorCodes.CIRCUIT_OPEN, 'denied'],
  [ErrorCodes.DRAINING, 'denied'],
  [ErrorCodes.RATE_LIMITED, 'denied'],
]);

/** Whose fault a failure class is, when it names an endpoint. */
const FAILURE_BLAME: { readonly [C in VerdictClass]: Blame } = {
  'success': 'none',
  'client-error': 'client',
  'server-error': 'endpoint',
  'connect-failure': 'endpoint',
  'reset': 'endpoint',
  'timeout': 'endpoint',
  'cancelled': 'client',
  'invalid': 'client',
  'denied': 'proxy',
  'error': 'proxy',
};

/** What {@link judge} reads: the facts of one outcome, flat (the verdict table's columns). */
export interface VerdictFacts {
  readonly method: string;
  /** The response status, or undefined for a failure value. */
  readonly status?: number;
  /** The producer's classification of the response head (gRPC failures in a 200 are `failure`). */
  readonly classification?: Classification;
  /** A failure value's code. */
  readonly code?: ErrorCode;
  /** A failure value's reachedApp (a response always reached it). */
  readonly reachedApp?: boolean;
  /** The outcome names the endpoint it came from. */
  readonly hasEndpoint: boolean;
  /** The request's signal had aborted for a reason other than one of our deadlines (the client went away). */
  readonly clientGone: boolean;
  readonly retryOnStatus: readonly number[];
}

const CLASSES: readonly VerdictClass[] = ['success', 'client-error', 'server-error', 'connect-failure', 'reset', 'timeout', 'cancelled', 'invalid', 'denied', 'error'];
const BLAMES: readonly Blame[] = ['none', 'endpoint', 'client', 'proxy'];

/** Every verdict there can be, made once (judging allocates nothing), at class × blame × retryable. */
const VERDICTS: readonly Verdict[] = CLASSES.flatMap((c) => BLAMES.flatMap((blame) => [false, true].map((retryable) => Object.freeze({ class: c, blame, retryable }))));
const CLASS_INDEX = Object.fromEntries(CLASSES.map((c, i) => [c, i])) as Record<VerdictClass, number>;
const BLAME_INDEX = Object.fromEntries(BLAMES.map((b, i) => [b, i])) as Record<Blame, number>;

function verdict(kind: VerdictClass, blame: Blame, retryable: boolean): Verdict {
  return VERDICTS[(CLASS_INDEX[kind] * BLAMES.length + BLAME_INDEX[blame]) * 2 + (retryable ? 1 : 0)];
}

const SUCCESS: Verdict = verdict('success', 'none', false);

/** The verdict table itself (pure; see test/proxy/layers/verdict.test.ts). */
export function judge(f: VerdictFacts): Verdict {
  if (f.status !== undefined && f.code === undefined) {
    const status = f.status;
    const kind: VerdictClass = f.classification === 'failure' || (status >= 500 && status <= 599) ? 'server-error' : status >= 400 ? 'client-error' : 'success';
    if (kind === 'success') return SUCCESS;
    const retryable = f.hasEndpoint && f.retryOnStatus.includes(status) && isIdempotent(f.method);
    return verdict(kind, kind === 'server-error' && !f.hasEndpoint ? 'proxy' : FAILURE_BLAME[kind], retryable);
  }
  const code = f.code ?? ErrorCodes.INTERNAL;
  // Aborted for any reason but a deadline: the client went away; the endpoint is not to blame.
  const kind: VerdictClass = f.clientGone && code !== ErrorCodes.UPSTREAM_TIMEOUT ? 'cancelled' : FAILURE_CLASSES.get(code) ?? 'error';
  let blame = FAILURE_BLAME[kind];
  // An endpoint can only be blamed when the failure names one (a deadline that passed in a queue names none).
  if (blame === 'endpoint' && !f.hasEndpoint) blame = 'proxy';
  const retryable = blame === 'endpoint' && (f.reachedApp === false || isIdempotent(f.method));
  return verdict(kind, blame, retryable);
}

/** The metrics' success | failure (Linkerd's `classification` label): the app answered as designed, or not. */
export function classificationOf(verdict: Verdict): Classification {
  return verdict.class === 'success' || verdict.class === 'client-error' ? 'success' : 'failure';
}

interface Judged {
  /** The request (its `tried` set: shared by the copies layers make of a request) the verdict was made for. */
  readonly tried: ReadonlySet<string>;
  readonly verdict: Verdict;
}

/** Answers that came from a peer sidecar this one authenticated (mutual TLS): their `trellis-error` is the peer's own. */
const vouched = new WeakSet<ProxyResponse>();

/** `response` came over mutual TLS from a sidecar of the service called: its `trellis-error` header is believed. */
export function vouchForPeerAnswer(response: ProxyResponse): void {
  vouched.add(response);
}

/** Failures already judged. */
const judged = new WeakMap<Outcome, Judged>();

function clientGone(request: ProxyRequest): boolean {
  const { signal } = request;
  if (!signal.aborted) return false;
  const reason: unknown = signal.reason;
  return (reason as { code?: unknown } | null)?.code !== ErrorCodes.UPSTREAM_TIMEOUT;
}

/**
 * The verdict on `outcome` of `request`: the same for every reader. A response's is a pure
 * function of it and the request (method, retryOnStatus) and is simply worked out again (no
 * allocation: verdicts are shared constants); a failure's also depends on whether the client
 * had gone when it was first judged, so it is kept for later readers (a request's copies —
 * with a deadline's signal — count as the same request).
 */
export function verdictOf(request: ProxyRequest, outcome: Outcome): Verdict {
  if (outcome.ok) {
    const { status, endpoint } = outcome.response;
    if (outcome.classification === 'success' && status < 400) return SUCCESS;
    if (status === 503 && endpoint !== undefined && request.target.direction === 'outbound' && outcome.response.headers['trellis-error'] === ErrorCodes.APP_UNAVAILABLE && vouched.has(outcome.response)) {
      // The peer sidecar (authenticated: mTLS) could not connect to its app: the request provably
      // never reached it — a connect failure of that instance, retryable whatever the method (a POST too).
      return judge({
        method: request.method, code: ErrorCodes.APP_UNAVAILABLE, reachedApp: false,
        hasEndpoint: true, clientGone: false, retryOnStatus: request.target.policy.retry.retryOnStatus,
      });
    }
    return judge({
      method: request.method, status, classification: outcome.classification,
      hasEndpoint: endpoint !== undefined, clientGone: false, retryOnStatus: request.target.policy.retry.retryOnStatus,
    });
  }
  const seen = judged.get(outcome);
  if (seen !== undefined && seen.tried === request.tried) return seen.verdict;
  const { failure } = outcome;
  const v = judge({
    method: request.method, code: failure.error.code, reachedApp: failure.reachedApp,
    hasEndpoint: failure.endpoint !== undefined, clientGone: clientGone(request), retryOnStatus: request.target.policy.retry.retryOnStatus,
  });
  judged.set(outcome, { tried: request.tried, verdict: v });
  return v;
}
