/**
 * HTTP/2 cleartext (h2c) to endpoints — peer sidecars of an http2/grpc upstream, or an
 * http2/grpc app: every request is a stream on the endpoint's one long-lived session
 * (./http2-sessions.ts). Bodies stream both ways under HTTP/2 flow control; the response
 * trailers (grpc-status, grpc-message) are passed on. The outcome settles on the response
 * head; a response head that ends the stream (gRPC's trailers-only answers) has no body.
 *
 * A stream provably reached no app — and may be retried whatever its method — when its
 * session never connected, or the endpoint refused it (RST_STREAM REFUSED_STREAM, or a
 * GOAWAY that did not cover it).
 */
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { Endpoint } from '../../balancer/types.js';
import { ErrorCodes, type ErrorCode } from '../../errors.js';
import { formatHostPort } from '../../util/host-port.js';
import { classify } from '../classify.js';
import { failed, proxyFailure } from '../failure.js';
import type { HeaderRecord } from '../http1/headers.js';
import { http2Headers, regularHeaders } from '../http2/headers.js';
import type { Outcome, ProxyFailure, ProxyRequest } from '../types.js';
import { abortedFailure, describeEndpoint, upstreamFailure, type FailureContext } from './errors.js';
import { Http2Sessions } from './http2-sessions.js';
import type { HttpUpstream } from './origin.js';
import type { ClientTls } from '../../security/mtls/client.js';

export interface Http2UpstreamOptions {
  /** The failure code for "cannot connect": UPSTREAM_CONNECT (a peer sidecar) or APP_UNAVAILABLE (the local app). */
  readonly unreachable: ErrorCode;
  readonly connectTimeoutMs: number;
  /** Mutual TLS to peer sidecars (absent: h2c, as to the local app). */
  readonly tls?: ClientTls;
}

function requestHeaders(request: ProxyRequest, endpoint: Endpoint): OutgoingHttpHeaders {
  const host = request.headers['host'];
  return {
    ...http2Headers(request.headers),
    ':method': request.method,
    ':path': request.path,
    ':scheme': 'http',
    ':authority': typeof host === 'string' ? host : formatHostPort({ host: endpoint.address, port: endpoint.port }),
  };
}

/** Refused streams never reached the app. */
function refused(stream: ClientHttp2Stream, err: (Error & { code?: string }) | undefined): boolean {
  return stream.rstCode === constants.NGHTTP2_REFUSED_STREAM || err?.code === 'ERR_HTTP2_GOAWAY_SESSION';
}

function streamFailure(err: Error | undefined, stream: ClientHttp2Stream, context: FailureContext): ProxyFailure {
  const sent = context.sent && !refused(stream, err);
  if (err !== undefined) return upstreamFailure(err, { ...context, sent });
  // Closed without an error and without an answer: a reset with NO_ERROR.
  return proxyFailure(sent ? ErrorCodes.UPSTREAM_RESET : context.unreachable,
    `${describeEndpoint(context.service, context.endpoint)} closed the stream before answering (HTTP/2 code ${stream.rstCode ?? 'none'})`,
    { reachedApp: sent, endpoint: context.endpoint });
}

function send(sessions: Http2Sessions, unreachable: ErrorCode, request: ProxyRequest, endpoint: Endpoint): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const session = sessions.get(endpoint, request.target.service);
    let sent = false;
    let settled = false;
    const context = (): FailureContext => ({ service: request.target.service, endpoint, sent, unreachable });
    const body = request.body.open();
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(requestHeaders(request, endpoint), { endStream: body === null });
    } catch (err) {
      // A session that is closing takes no new streams (nothing was sent).
      body?.destroy();
      resolve(failed(upstreamFailure(err, context())));
      return;
    }
    const settle = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      request.signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const onAbort = (): void => {
      settle(failed(abortedFailure(request.signal.reason, context())));
      stream.close(constants.NGHTTP2_CANCEL);
    };
    let trailers: HeaderRecord | undefined;
    stream.once('ready', () => { sent = true; });
    stream.once('trailers', (received: IncomingHttpHeaders) => { trailers = regularHeaders(received); });
    stream.once('response', (received: IncomingHttpHeaders, flags: number) => {
      const status = Number(received[':status']);
      const ended = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      if (ended) stream.resume();
      settle({
        ok: true,
        classification: classify(status, received['grpc-status']),
        response: { status, headers: regularHeaders(received), body: ended ? null : stream, trailers: () => trailers, endpoint },
      });
    });
    // After the head, errors belong to whoever reads the body (it is the stream).
    stream.on('error', (err: Error) => settle(failed(request.signal.aborted ? abortedFailure(request.signal.reason, context()) : streamFailure(err, stream, context()))));
    stream.once('close', () => settle(failed(streamFailure(undefined, stream, context()))));
    if (body !== null) {
      body.once('error', () => stream.close(constants.NGHTTP2_CANCEL));
      body.pipe(stream);
    }
    if (request.signal.aborted) onAbort();
    else request.signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function createHttp2Upstream(options: Http2UpstreamOptions): HttpUpstream {
  const sessions = new Http2Sessions(options.connectTimeoutMs, options.tls);
  return {
    send: (request, endpoint) => send(sessions, options.unreachable, request, endpoint),
    retain: (origins) => sessions.retain(origins),
    close: async () => sessions.close(),
  };
}
