/**
 * One HTTP/1 request through a listener: read the head (hop-by-hop headers out,
 * x-forwarded-for and x-request-id in), find the target, run the listener's handler
 * (the pipeline of layers) and write its outcome. Route misses and draining are answered
 * here, as failure values rendered by rescue.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { ErrorCodes, messageOf } from '../../errors.js';
import { peerOf } from '../../security/mtls/peer.js';
import { NO_BODY, replayableBody } from '../body.js';
import { Cancellation, type CancelSignal } from '../cancel.js';
import { proxyFailure } from '../failure.js';
import type { Handler, ProxyFailure, ProxyRequest, RequestBody, Target } from '../types.js';
import { writeFailure, writeOutcome, type AnswerLogs, type ListenerStats } from './answer.js';
import { requestHead } from './headers.js';
import { parseRequestTarget } from './target-uri.js';

/**
 * Where a request goes: its target and the pipeline that serves it (and the one that serves
 * its WebSocket upgrades, when the target takes them), or the failure to answer with (no
 * such service).
 */
export type Route =
  | { readonly target: Target; readonly handler: Handler; readonly upgrade: Handler | ProxyFailure; readonly failure?: undefined }
  | { readonly target: Target; readonly failure: ProxyFailure };

/** What one listener serves (HTTP/1 and HTTP/2 alike). */
export interface Http1Site {
  /** The route for a request, from its authority (absolute-form) or Host header, as received. */
  route(authority: string | undefined): Route;
  /** The target named in answers that concern no particular service (a malformed request, draining). */
  readonly localTarget: Target;
  /** True while the sidecar drains: new requests are refused, answers close their connection. */
  draining(): boolean;
  /** Request bodies up to this size are kept so that a retry can send them again. */
  readonly replayBufferBytes: number;
  readonly stats: ListenerStats;
  readonly logs: AnswerLogs;
  readonly logger: Logger;
}

export const CLIENT_GONE = Object.freeze(new Error('the client closed the connection'));

/** The answer to a new request while the sidecar drains. */
export function drainingFailure(site: Http1Site): ProxyFailure {
  return proxyFailure(ErrorCodes.DRAINING, `${site.localTarget.service} is shutting down and takes no new requests: send them to another instance`);
}

/** A request the listener answers itself (draining, unreadable target, no such service). */
export interface Refusal {
  readonly failure: ProxyFailure;
  readonly target: Target;
  /** Close the connection after the answer. */
  readonly close: boolean;
  readonly request?: undefined;
}

/** A request that goes on, with the route that serves it. */
export interface Accepted {
  readonly request: ProxyRequest;
  readonly route: Route & { readonly failure?: undefined };
}

/**
 * A request head as a carrier received it: node:http's IncomingMessage is one, and so is
 * the raw-socket path's parsed head (./connection.ts).
 */
export interface ReceivedHead {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  /** [name, value, …] as received. */
  readonly rawHeaders: readonly string[];
  readonly httpVersionMinor: number;
  /** The connection (its remote address; with mTLS, the peer identity tagged on it). */
  readonly socket: { readonly remoteAddress?: string | undefined };
}

/**
 * A malformed head the request line and framing checks let through: more than one Host,
 * or none in HTTP/1.1 (RFC 9112 §3.2: "a server MUST respond with a 400"). Answered before
 * any route or upstream is tried, so that no endpoint is ever blamed for it.
 */
function hostFailure(hostCount: number, httpVersionMinor: number): ProxyFailure | undefined {
  if (hostCount > 1) return proxyFailure(ErrorCodes.BAD_REQUEST, `the request has ${hostCount} Host headers: send exactly one`);
  if (hostCount === 0 && httpVersionMinor >= 1) return proxyFailure(ErrorCodes.BAD_REQUEST, 'an HTTP/1.1 request needs a Host header: send Host: SERVICE');
  return undefined;
}

/**
 * Read an HTTP/1 request into a ProxyRequest and find its route — or the refusal to answer
 * with. For an upgrade request (`upgrade`: its Upgrade header) the Upgrade and Connection
 * headers are kept and no body is read (the bytes after the head belong to the tunnel).
 * `body` makes the request body when the head says there is one (node:http: from the
 * IncomingMessage; the raw path: the body the parser feeds).
 */
export function readRequest(req: ReceivedHead, site: Http1Site, signal: CancelSignal, upgrade: string | undefined, body: () => RequestBody): Accepted | Refusal {
  const head = requestHead(req.rawHeaders, req.socket.remoteAddress);
  const malformed = hostFailure(head.hostCount, req.httpVersionMinor);
  if (malformed !== undefined) return { failure: malformed, target: site.localTarget, close: true };
  if (site.draining()) return { failure: drainingFailure(site), target: site.localTarget, close: true };
  const requestTarget = parseRequestTarget(req.url ?? '/');
  if (requestTarget === undefined) {
    return {
      failure: proxyFailure(ErrorCodes.BAD_REQUEST, `the request target ${JSON.stringify((req.url ?? '').slice(0, 200))} is neither a path nor an http:// URL`),
      target: site.localTarget,
      close: false,
    };
  }
  const authority = requestTarget.authority ?? head.host;
  if (requestTarget.authority !== undefined) head.headers['host'] = requestTarget.authority;
  if (upgrade !== undefined) {
    head.headers['connection'] = 'upgrade';
    head.headers['upgrade'] = upgrade;
  }
  const route = site.route(authority);
  if (route.failure !== undefined) return { failure: route.failure, target: route.target, close: false };
  const request: ProxyRequest = {
    id: head.requestId,
    method: req.method ?? 'GET',
    path: requestTarget.path,
    headers: head.headers,
    body: upgrade === undefined && head.hasBody ? body() : NO_BODY,
    target: route.target,
    signal,
    startedAt: performance.now(),
    tried: new Set(),
    peer: peerOf(req.socket),
  };
  return { request, route };
}

/** Log a handler that threw (a bug: handlers return failures as values) and make the failure to answer with. */
export function handlerBug(err: unknown, site: Http1Site, request: ProxyRequest): ProxyFailure {
  site.logger.error({ err: messageOf(err), service: request.target.service, requestId: request.id }, 'bug: the data path threw');
  return proxyFailure(ErrorCodes.INTERNAL, `the proxy failed on this request (request id ${request.id}): ${messageOf(err)}`);
}

export function serveRequest(req: IncomingMessage, res: ServerResponse, site: Http1Site): void {
  const { stats } = site;
  stats.requests += 1;
  stats.inFlight += 1;
  const controller = new Cancellation();
  let body: Readable | null = null;
  res.once('close', () => {
    stats.inFlight -= 1;
    if (res.writableFinished) return;
    // The client went away first: stop the attempt, or the response still streaming.
    controller.abort(CLIENT_GONE);
    if (body !== null && !body.readableEnded) body.destroy();
  });

  const read = readRequest(req, site, controller, undefined, () => replayableBody(req, site.replayBufferBytes));
  if (read.request === undefined) {
    writeFailure(res, read.failure, read.target, read.close);
    return;
  }
  const { request, route } = read;
  route.handler(request).then(
    (outcome) => { body = writeOutcome(res, outcome, route.target, site.draining(), stats, site.logs); },
    // An exception here is a bug: answer, log, keep serving.
    (err: unknown) => writeFailure(res, handlerBug(err, site, request), route.target, true),
  );
}
