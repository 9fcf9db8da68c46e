/**
 * HTTP/1.1 upgrades (WebSocket) to one endpoint. The upgrade request goes on a connection
 * of its own (node:http without an agent: an upgraded connection never returns to a pool),
 * its Upgrade and Connection headers kept. A 101 settles the outcome with the upstream
 * socket as the body (bytes that came right after the 101 are put back in front of it);
 * any other answer is an ordinary response. A connect failure provably reached no app and
 * may be retried elsewhere; once the 101 is here the outcome is a success, never retried.
 */
import { request as httpRequest } from 'node:http';
import type { Endpoint } from '../../balancer/types.js';
import type { ErrorCode } from '../../errors.js';
import { ALPN_HTTP1, type ClientTls } from '../../security/mtls/client.js';
import { classify } from '../classify.js';
import { failed } from '../failure.js';
import { rawResponseHeaders } from '../http1/headers.js';
import type { EndpointHandler, Outcome, ProxyRequest } from '../types.js';
import { abortedFailure, upstreamFailure, type FailureContext } from './errors.js';

export interface UpgradeUpstreamOptions {
  /** The failure code for "cannot connect": UPSTREAM_CONNECT (a peer sidecar) or APP_UNAVAILABLE (the local app). */
  readonly unreachable: ErrorCode;
  readonly connectTimeoutMs: number;
  /** Mutual TLS to peer sidecars (absent: plaintext, as to the local app). */
  readonly tls?: ClientTls;
}

export function createUpgradeUpstream(options: UpgradeUpstreamOptions): EndpointHandler {
  const { tls } = options;
  return (request: ProxyRequest, endpoint: Endpoint) => new Promise<Outcome>((resolve) => {
    let sent = false;
    let settled = false;
    const context = (): FailureContext => ({ service: request.target.service, endpoint, sent, unreachable: options.unreachable });
    const req = httpRequest({
      host: endpoint.address,
      port: endpoint.port,
      method: request.method,
      path: request.path,
      headers: request.headers,
      setHost: false,
      // Node uses createConnection only without an agent (agent: false would make one).
      ...(tls === undefined ? { agent: false } : { createConnection: () => tls.connect(endpoint.address, endpoint.port, request.target.service, ALPN_HTTP1) }),
    });
    const onAbort = (): void => {
      req.destroy(request.signal.reason instanceof Error ? request.signal.reason : new Error('aborted'));
    };
    const connectTimer = setTimeout(() => {
      req.destroy(Object.assign(new Error(`connect timed out after ${options.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, options.connectTimeoutMs);
    const settle = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      request.signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };

    req.once('socket', (socket) => {
      socket.setNoDelay(true);
      socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
        sent = true;
        clearTimeout(connectTimer);
      });
    });
    req.once('upgrade', (res, socket, head) => {
      socket.on('error', ignore); // until the tunnel is spliced (then an error ends both sides)
      if (head.length > 0) socket.unshift(head);
      settle({
        ok: true,
        classification: 'success',
        response: { status: res.statusCode ?? 101, headers: rawResponseHeaders(res.rawHeaders, true), body: socket, endpoint },
      });
    });
    req.once('response', (res) => {
      const status = res.statusCode ?? 502;
      settle({ ok: true, classification: classify(status), response: { status, headers: rawResponseHeaders(res.rawHeaders, false), body: res, endpoint } });
    });
    req.on('error', (err) => {
      settle(failed(request.signal.aborted ? abortedFailure(request.signal.reason, context()) : upstreamFailure(err, context())));
    });
    if (request.signal.aborted) onAbort();
    else request.signal.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}

function ignore(): void {}
