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
import { NO_BODY, replayableBody } from '../body.js';
import { proxyFailure } from '../failure.js';
import type { Handler, ProxyFailure, ProxyRequest, Target } from '../types.js';
import { writeFailure, writeOutcome, type AnswerLogs, type ListenerStats } from './answer.js';
import { requestHead } from './headers.js';
import { parseRequestTarget } from './target-uri.js';

/** Where a request goes: its target, or the failure to answer with (no such service). */
export type Route =
  | { readonly target: Target; readonly failure?: undefined }
  | { readonly target: Target; readonly failure: ProxyFailure };

/** What one HTTP/1 listener serves. */
export interface Http1Site {
  /** The route for a request, from its authority (absolute-form) or Host header, as received. */
  route(authority: string | undefined): Route;
  readonly handler: Handler;
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

const CLIENT_GONE = Object.freeze(new Error('the client closed the connection'));

export function serveRequest(req: IncomingMessage, res: ServerResponse, site: Http1Site): void {
  const { stats } = site;
  stats.requests += 1;
  stats.inFlight += 1;
  const controller = new AbortController();
  let body: Readable | null = null;
  res.once('close', () => {
    stats.inFlight -= 1;
    if (res.writableFinished) return;
    // The client went away first: stop the attempt, or the response still streaming.
    controller.abort(CLIENT_GONE);
    if (body !== null && !body.readableEnded) body.destroy();
  });

  if (site.draining()) {
    writeFailure(res, proxyFailure(ErrorCodes.DRAINING, `${site.localTarget.service} is shutting down and takes no new requests: send them to another instance`), site.localTarget, true);
    return;
  }
  const head = requestHead(req.rawHeaders, req.socket.remoteAddress);
  const requestTarget = parseRequestTarget(req.url ?? '/');
  if (requestTarget === undefined) {
    writeFailure(res, proxyFailure(ErrorCodes.BAD_REQUEST, `the request target ${JSON.stringify((req.url ?? '').slice(0, 200))} is neither a path nor an http:// URL`), site.localTarget, false);
    return;
  }
  const authority = requestTarget.authority ?? head.host;
  if (requestTarget.authority !== undefined) head.headers['host'] = requestTarget.authority;
  const route = site.route(authority);
  if (route.failure !== undefined) {
    writeFailure(res, route.failure, route.target, false);
    return;
  }
  const request: ProxyRequest = {
    id: head.requestId,
    method: req.method ?? 'GET',
    path: requestTarget.path,
    headers: head.headers,
    body: head.hasBody ? replayableBody(req, site.replayBufferBytes) : NO_BODY,
    target: route.target,
    signal: controller.signal,
    startedAt: performance.now(),
    tried: new Set(),
  };
  site.handler(request).then(
    (outcome) => { body = writeOutcome(res, outcome, route.target, site.draining(), stats, site.logs); },
    (err: unknown) => {
      // Handlers return failures as values; an exception here is a bug. Answer, log, keep serving.
      site.logger.error({ err: messageOf(err), service: route.target.service, requestId: request.id }, 'bug: the data path threw');
      writeFailure(res, proxyFailure(ErrorCodes.INTERNAL, `the proxy failed on this request (request id ${request.id}): ${messageOf(err)}`), route.target, true);
    },
  );
}
