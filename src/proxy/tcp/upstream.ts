/**
 * The connection stack's innermost handler: opens a TCP connection (mutual TLS to a peer
 * sidecar, plaintext to the local app) to the endpoint the balance layer picked. A connected
 * socket is the outcome's response body (as an upgraded WebSocket's is): the circuit breaker
 * holds its slot until it closes, and the relay splices the client to it. A connection that
 * could not be made provably sent nothing (`reachedApp` false), so the retry layer may try
 * another endpoint, and outlier detection counts it against this one.
 */
import type { Socket } from 'node:net';
import type { Endpoint } from '../../balancer/types.js';
import type { ErrorCode } from '../../errors.js';
import type { ClientTls } from '../../security/mtls/client.js';
import { failed } from '../failure.js';
import type { EndpointHandler, Outcome, ProxyRequest } from '../types.js';
import { abortedFailure, upstreamFailure } from '../upstream/errors.js';
import { connectTcp, connectTls } from './splice.js';

export interface TcpUpstreamOptions {
  /** The failure code for "cannot connect": UPSTREAM_CONNECT (a peer sidecar) or APP_UNAVAILABLE (the local app). */
  readonly unreachable: ErrorCode;
  readonly connectTimeoutMs: number;
  /** Mutual TLS to peer sidecars (absent: plaintext, as to the local app). */
  readonly tls?: ClientTls;
}

/** The response a connection gets once it is open: nothing was said, bytes flow both ways. */
const CONNECTED_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

export function createTcpUpstream(options: TcpUpstreamOptions): EndpointHandler {
  const { tls } = options;
  return async (request: ProxyRequest, endpoint: Endpoint): Promise<Outcome> => {
    const context = { service: request.target.service, endpoint, sent: false, unreachable: options.unreachable };
    if (request.signal.aborted) return failed(abortedFailure(request.signal.reason, context));
    // A deadline or the client going away during the connect destroys the socket being connected.
    const upstream: Socket | Error = tls === undefined
      ? await connectTcp(endpoint.address, endpoint.port, options.connectTimeoutMs, request.signal)
      : await connectTls(tls.connect(endpoint.address, endpoint.port, request.target.service, undefined), options.connectTimeoutMs, request.signal);
    if (request.signal.aborted) {
      if (!(upstream instanceof Error)) upstream.destroy();
      return failed(abortedFailure(request.signal.reason, context));
    }
    if (upstream instanceof Error) return failed(upstreamFailure(upstream, context));
    upstream.on('error', ignore); // until the relay splices it (then an error ends both sides)
    return { ok: true, classification: 'success', response: { status: 200, headers: CONNECTED_HEADERS, body: upstream, endpoint } };
  };
}

function ignore(): void {}
