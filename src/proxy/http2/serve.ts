/**
 * One HTTP/2 stream through a listener — the HTTP/2 twin of ../http1/serve.ts: read the
 * head (pseudo-headers out, x-forwarded-for and x-request-id in), find the route, run its
 * pipeline and write the outcome on the stream. The request body streams from the client
 * (kept for a replay while small); a client that resets the stream cancels the attempt
 * or the response still streaming.
 */
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { ErrorCodes } from '../../errors.js';
import { peerOf } from '../../security/mtls/peer.js';
import { NO_BODY, replayableBody } from '../body.js';
import { Cancellation } from '../cancel.js';
import { proxyFailure } from '../failure.js';
import { CLIENT_GONE, drainingFailure, handlerBug, type Http1Site } from '../http1/serve.js';
import type { ProxyRequest } from '../types.js';
import { writeHttp2Failure, writeHttp2Outcome } from './answer.js';
import { http2RequestHead, isGrpc } from './headers.js';

export function serveStream(stream: ServerHttp2Stream, received: IncomingHttpHeaders, flags: number, site: Http1Site): void {
  const { stats } = site;
  stats.requests += 1;
  stats.inFlight += 1;
  const controller = new Cancellation();
  const grpc = isGrpc(received['content-type']);
  let body: Readable | null = null;
  stream.on('error', ignore); // a reset stream just closes; the close below does the rest
  stream.once('close', () => {
    stats.inFlight -= 1;
    if (stream.rstCode === constants.NGHTTP2_NO_ERROR && stream.writableFinished) return;
    controller.abort(CLIENT_GONE);
    if (body !== null && !body.readableEnded) body.destroy();
  });

  if (site.draining()) {
    writeHttp2Failure(stream, drainingFailure(site), site.localTarget, grpc);
    return;
  }
  const head = http2RequestHead(received, stream.session?.socket?.remoteAddress);
  if (head.path === undefined || head.method === undefined || head.method === 'CONNECT') {
    writeHttp2Failure(stream, proxyFailure(ErrorCodes.BAD_REQUEST, 'CONNECT and requests without :path are not supported: send plain requests to this proxy'), site.localTarget, grpc);
    return;
  }
  const route = site.route(head.authority);
  if (route.failure !== undefined) {
    writeHttp2Failure(stream, route.failure, route.target, grpc);
    return;
  }
  const request: ProxyRequest = {
    id: head.requestId,
    method: head.method,
    path: head.path,
    headers: head.headers,
    body: (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0 ? NO_BODY : replayableBody(stream, site.replayBufferBytes),
    target: route.target,
    signal: controller,
    startedAt: performance.now(),
    tried: new Set(),
    peer: peerOf(stream.session?.socket),
  };
  route.handler(request).then(
    (outcome) => { body = writeHttp2Outcome(stream, outcome, route.target, grpc, stats, site.logs); },
    (err: unknown) => writeHttp2Failure(stream, handlerBug(err, site, request), route.target, grpc),
  );
}

function ignore(): void {}
