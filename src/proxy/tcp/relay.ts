/**
 * Where raw TCP connections go: each accepted connection becomes a request of the
 * connection stack — the same layers as HTTP requests (src/proxy/pipeline.ts): outbound,
 * observe (TCP metrics, one access-log line) → timeout → retry (budget, back-off) → circuit
 * breaker → outlier detection → balance → connect (./upstream.ts); inbound, observe → the
 * local app. A connect failure is retried on another endpoint within the retry budget, and
 * counts against its endpoint for outlier detection; a connected upstream is the outcome's
 * body, spliced to the client.
 *
 * A connection is a request with method CONNECT (not idempotent: once connected it is never
 * retried; a connect that failed sent nothing and may be, as any request that never reached
 * the app), no path, no headers, no body, and a signal that aborts when the client closes.
 * TCP has no way to carry an error answer: a connection with nowhere to go is closed, logged
 * (throttled) and counted.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Duplex } from 'node:stream';
import type { Endpoint } from '../../balancer/types.js';
import type { ThrottledLog } from '../../util/throttled-log.js';
import { ErrorCodes, messageOf } from '../../errors.js';
import type { ClientTls } from '../../security/mtls/client.js';
import { NO_BODY } from '../body.js';
import { Cancellation } from '../cancel.js';
import { verdictOf } from '../classify.js';
import { inboundStack } from '../pipeline.js';
import type { Handler, Layer, PeerIdentity, ProxyRequest, Target } from '../types.js';
import { splice } from './splice.js';
import { createTcpUpstream } from './upstream.js';

export interface RelayOptions {
  readonly connectTimeoutMs: number;
  /** Reports connections that could not be relayed. */
  readonly failures: ThrottledLog;
  /** Mutual TLS to peer sidecars (outbound only; the local app is plaintext). */
  readonly tls?: ClientTls | undefined;
  /** The outbound connection stack (the sidecar builds it once, with the HTTP stacks). */
  readonly outbound: Handler;
  /** The connection stack's telemetry layers (metrics, access log), outermost: for the inbound stack. */
  readonly layers?: readonly Layer[];
  /** The telemetry layers of WebSocket upgrades (the request's, then the tunnel's): for the inbound upgrade stack. */
  readonly upgradeLayers?: readonly Layer[];
}

/** The request a connection makes on the connection stack. */
export function connectionRequest(target: Target, signal: Cancellation, peer: PeerIdentity | undefined): ProxyRequest {
  return {
    id: randomUUID(),
    method: 'CONNECT',
    path: '',
    headers: {},
    body: NO_BODY,
    target,
    signal,
    startedAt: performance.now(),
    tried: new Set(),
    ...(peer === undefined ? {} : { peer }),
  };
}

/** Relay each connection through `stack` for `target`. `identify`: the caller's identity (inbound, mTLS). */
export function relayThrough(target: Target, stack: Handler, failures: ThrottledLog, identify?: (client: Socket) => PeerIdentity | undefined): (client: Socket) => void {
  return (client) => {
    const controller = new Cancellation();
    client.on('error', ignore); // a reset client just closes; the close does the rest
    client.once('close', () => controller.abort(CLIENT_GONE));
    const request = connectionRequest(target, controller, identify?.(client));
    stack(request).then((outcome) => {
      const upstream = outcome.ok ? outcome.response.body : null;
      if (upstream instanceof Duplex) {
        if (client.destroyed) upstream.destroy();
        else splice(client, upstream, ignore);
        return;
      }
      if (outcome.ok) {
        outcome.response.body?.destroy();
      } else if (verdictOf(request, outcome).class !== 'cancelled') {
        // A client that left while we connected is not worth a log line.
        failures.report({ service: target.service, tried: [...request.tried], err: outcome.failure.error.message });
      }
      client.destroy();
    }, (err: unknown) => {
      failures.report({ service: target.service, err: messageOf(err) });
      client.destroy();
    });
  };
}

/** Outbound: relay each connection to an endpoint of `target.service` through the sidecar's connection stack. */
export function relayToService(target: Target, options: RelayOptions): (client: Socket) => void {
  return relayThrough(target, options.outbound, options.failures);
}

/** Inbound: relay each connection to the local app (observed like the outbound ones, with no balancing to do). */
export function relayToApp(target: Target, app: Endpoint, options: RelayOptions, identify?: (client: Socket) => PeerIdentity | undefined): (client: Socket) => void {
  const upstream = createTcpUpstream({ unreachable: ErrorCodes.APP_UNAVAILABLE, connectTimeoutMs: options.connectTimeoutMs });
  return relayThrough(target, inboundStack(upstream, app, options.layers ?? []), options.failures, identify);
}

const CLIENT_GONE = Object.freeze(new Error('the client closed the connection'));

function ignore(): void {}
