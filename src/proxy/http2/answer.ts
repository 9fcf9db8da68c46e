/**
 * Writing answers on HTTP/2 streams: an upstream response streamed through with its
 * trailers (gRPC's grpc-status), or a failure as rescue.ts renders it — a gRPC status for a
 * gRPC request, else the HTTP answer. A response that breaks off resets the stream, so the
 * client sees the failure instead of a short body.
 */
import { constants, type ServerHttp2Stream } from 'node:http2';
import type { Readable } from 'node:stream';
import { ErrorCodes, messageOf } from '../../errors.js';
import { proxyFailure } from '../failure.js';
import type { AnswerLogs, ListenerStats } from '../http1/answer.js';
import { failureResponse, grpcFailureHeaders } from '../rescue.js';
import type { Outcome, ProxyFailure, Target } from '../types.js';
import { http2Headers } from './headers.js';

function gone(stream: ServerHttp2Stream): boolean {
  return stream.destroyed || stream.closed;
}

export function writeHttp2Failure(stream: ServerHttp2Stream, failure: ProxyFailure, target: Target, grpc: boolean): void {
  if (gone(stream)) return;
  if (stream.headersSent) {
    stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  if (grpc) {
    stream.respond({ ':status': 200, ...grpcFailureHeaders(failure, target) }, { endStream: true });
    return;
  }
  const answer = failureResponse(failure, target);
  stream.respond({ ':status': answer.status, ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
  stream.end(answer.body);
}

/** Forward an outcome; returns the response body being streamed (the caller destroys it if the client goes away). */
export function writeHttp2Outcome(stream: ServerHttp2Stream, outcome: Outcome, target: Target, grpc: boolean, stats: ListenerStats, logs: AnswerLogs): Readable | null {
  if (!outcome.ok) {
    writeHttp2Failure(stream, outcome.failure, target, grpc);
    return null;
  }
  const { response } = outcome;
  const { body, trailers } = response;
  if (gone(stream)) {
    body?.destroy();
    return null;
  }
  try {
    stream.respond({ ...http2Headers(response.headers), ':status': response.status }, {
      endStream: body === null,
      waitForTrailers: body !== null && trailers !== undefined,
    });
  } catch (err) {
    body?.destroy();
    writeHttp2Failure(stream, proxyFailure(ErrorCodes.UPSTREAM_RESET, `${target.service} sent a response head that cannot be forwarded: ${messageOf(err)}`, {
      reachedApp: true, endpoint: response.endpoint,
    }), target, grpc);
    return null;
  }
  if (body === null) return null;
  if (trailers !== undefined) stream.once('wantTrailers', () => stream.sendTrailers(http2Headers(trailers() ?? {})));
  body.once('error', (err) => {
    stats.brokenResponses += 1;
    logs.brokenResponse.report({ service: target.service, endpoint: response.endpoint?.id, err: messageOf(err) });
    if (!gone(stream)) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  });
  body.pipe(stream);
  return body;
}
