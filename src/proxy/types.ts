/**
 * The sidecar's data path contract (see ../../docs/architecture.md and STYLE.md):
 *
 *   listener → protocol → route (which service) → pipeline of layers:
 *     timeout → retry (budget) → circuit breaker → balance (pick, skipping ejected) → upstream
 *   response → classified once; retry, outlier detection and metrics read that verdict.
 *
 * A Layer wraps a Handler: `type Layer = (next: Handler) => Handler`. Each layer is one module
 * with one concern and reads its settings from the request's target (never from globals);
 * the order is declared in one place (src/proxy/pipeline.ts).
 *
 * Expected failures on the data path are values (`Outcome` with ok: false), not exceptions.
 */
import type { Readable } from 'node:stream';
import type { Endpoint } from '../balancer/types.js';
import type { TrellisError } from '../errors.js';
import type { CancelSignal } from './cancel.js';
import type { PeerIdentity } from '../core/identity.js';
import type { Classification, Direction } from '../core/traffic.js';
import type { RouteSelection, RouteTable } from './routing/table.js';

export type { PeerIdentity } from '../core/identity.js';
export type { Classification, Direction } from '../core/traffic.js';

/** Resilience settings for one upstream service, validated and frozen at start-up. */
export interface UpstreamPolicy {
  /** Whole-request deadline, all attempts included (0 = none). Default 15 s. */
  readonly timeoutMs: number;
  /** Deadline of one attempt (0 = none). */
  readonly perTryTimeoutMs: number;
  readonly retry: {
    /** Attempts in all, the first included (1 = no retries). */
    readonly maxAttempts: number;
    /** Linkerd's budget: retries may add this share of requests (0.2 = 20%)… */
    readonly budgetRatio: number;
    /** …plus this many retries per second regardless. */
    readonly minRetriesPerSecond: number;
    readonly backoffBaseMs: number;
    readonly backoffMaxMs: number;
    /** Response statuses that are retried for idempotent methods (default 502, 503, 504). */
    readonly retryOnStatus: readonly number[];
  };
  readonly circuitBreaker: {
    readonly maxConcurrent: number;
    readonly maxPending: number;
  };
  readonly outlierDetection: {
    readonly consecutive5xx: number;
    readonly consecutiveConnectFailures: number;
    readonly baseEjectionMs: number;
    readonly maxEjectionMs: number;
    /**
     * An endpoint with attempts in flight that settled none for this long (or 4 × its usual
     * latency, when longer) while others answered is ejected (0 = off). Default 1 s.
     */
    readonly noProgressTimeoutMs: number;
    /** Never eject more than this share of the endpoints (0–100). */
    readonly maxEjectionPercent: number;
  };
  readonly loadBalancer: { readonly strategy: string; readonly config?: unknown };
  /** Request header whose value is the hash key for ring-hash / maglev. */
  readonly hashHeader?: string;
}

/** A named part of a service: the instances whose labels include all of `labels` (a route's backend). */
export interface Subset {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** What a stack is built for (linkerd's "target"): the service and its settings. */
export interface Target {
  readonly direction: Direction;
  readonly service: string;
  readonly policy: UpstreamPolicy;
  /** The service's traffic routes (src/proxy/routing); absent: it has none. */
  readonly routes?: RouteTable;
  /** Set by the route-match layer: the subset the chosen backend stands for (absent: every instance). */
  readonly subset?: Subset;
}

/** A request body that can be sent again for a retry while it is small enough to keep. */
export interface RequestBody {
  /** A stream of the body for one attempt, or null when there is no body. */
  open(): Readable | null;
  /** False once part of a streamed body was sent and could not be kept for a replay. */
  readonly replayable: boolean;
  /**
   * The whole body, when all of it has arrived and is kept (a small body that came with its
   * head): a writer sends these bytes at once, no stream made. Optional: not every carrier has it.
   */
  whole?(): readonly Buffer[] | undefined;
  /**
   * The body for one attempt without a Readable: chunks go to `sink` with backpressure
   * (`write` false: wait for the reader's `resume()`). Optional: carriers without it are read with `open()`.
   */
  stream?(sink: BodySink): BodyReader;
}

/** Where {@link RequestBody.stream} delivers one attempt's chunks. */
export interface BodySink {
  /** False: stop until {@link BodyReader.resume}. */
  write(chunk: Buffer): boolean;
  end(): void;
  /** The body broke off (the client went away, or the part a replay needs was not kept). */
  fail(err: Error): void;
}

export interface BodyReader {
  /** The sink can take more. */
  resume(): void;
  /** The attempt gave up the body: nothing more is delivered to its sink. */
  close(): void;
}

export interface ProxyRequest {
  /** x-request-id: taken from the client or made here. */
  readonly id: string;
  readonly method: string;
  /** Path and query as received. */
  readonly path: string;
  /** Lower-case names; hop-by-hop headers already removed. */
  readonly headers: Readonly<Record<string, string | string[]>>;
  readonly body: RequestBody;
  readonly target: Target;
  /** Aborted when the client goes away or a deadline passes. */
  readonly signal: CancelSignal;
  /** Monotonic ms (performance.now()) when the request arrived. */
  readonly startedAt: number;
  /** Endpoint ids this request already tried: the balance layer excludes them. */
  readonly tried: Set<string>;
  /**
   * Inbound only: who is calling, as authenticated by mutual TLS (the SPIFFE ID in the
   * peer certificate's URI SAN). Undefined for plaintext (permissive mode) and outbound.
   */
  readonly peer?: PeerIdentity | undefined;
  /** Set by the route-match layer (or the gateway's router): the route rule (and which of its matches) this request matched. */
  readonly route?: RouteSelection | undefined;
  /** At the gateway: who the request's credentials say it is from (a JWT's sub, an API key's name); per-caller rate limits key on it. */
  readonly client?: string | undefined;
}

export interface ProxyResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** Streamed, never buffered whole. */
  readonly body: Readable | null;
  /**
   * The whole body, when it has already arrived and `body` was never read (a small response
   * that came with its head): a writer sends these bytes at once instead of streaming `body`.
   * Undefined otherwise (and for producers that only stream).
   */
  wholeBody?(): readonly Buffer[] | undefined;
  /**
   * Trailing headers (HTTP/2: gRPC's grpc-status, grpc-message), as received so far: read
   * once the body has ended. Absent for protocols without trailers.
   */
  readonly trailers?: () => Readonly<Record<string, string | string[]>> | undefined;
  /** The endpoint that answered. */
  readonly endpoint: Endpoint | undefined;
}

/**
 * An error the proxy itself answers with: a specific status, a `trellis-error: <code>`
 * header and a body naming the service and the reason. `reachedApp` is false when the
 * request provably never reached the application (connect refused, reset before a byte was
 * sent), which makes any method safe to retry.
 */
export interface ProxyFailure {
  readonly error: TrellisError;
  readonly reachedApp: boolean;
  readonly endpoint: Endpoint | undefined;
  /** The HTTP status to answer with instead of the code's own (an injected fault's abort status). */
  readonly status?: number;
  /** Seconds from an upstream Retry-After, when it gave one. */
  readonly retryAfterSeconds?: number;
  /** Facts the answer's body shows besides the message (the policy that denied a request, the caller). */
  readonly answer?: Readonly<Record<string, string>>;
  /** Headers the answer carries besides trellis-error (the gateway's WWW-Authenticate, CORS headers). */
  readonly headers?: Readonly<Record<string, string>>;
}

export type Outcome =
  | { readonly ok: true; readonly response: ProxyResponse; readonly classification: Classification }
  | { readonly ok: false; readonly failure: ProxyFailure };

export type Handler = (request: ProxyRequest) => Promise<Outcome>;
export type Layer = (next: Handler) => Handler;

/** Sends a request to one endpoint (the balance layer picked it): the innermost handler, a protocol's upstream. */
export type EndpointHandler = (request: ProxyRequest, endpoint: Endpoint) => Promise<Outcome>;
