/**
 * The observation layer of the connection stack (raw TCP), outermost as observe.ts is for
 * requests: a connection is recorded once, when it ends — its verdict (classify.ts, the one
 * retry and outlier detection read), the endpoint it went to, how many endpoints it tried,
 * the time to connect, its duration and the bytes each way — and handed to the sinks (the
 * TCP metrics, one access-log line). A connection that could not be relayed (every attempt
 * failed, nothing to pick, circuit open) ends at once. While one is open the sinks know it
 * (the open-connections gauge).
 *
 * The same layer observes WebSocket tunnels (`protocol` websocket, on the upgrade stacks, after
 * the request's own observation): only upgrades that became tunnels (a 101) are recorded, when
 * the tunnel closes; a refused upgrade is a request like any other and observe.ts has it.
 *
 * The bytes are those of the upstream socket (the outcome's body): written to it = sent by
 * the client, read from it = received by the client — plaintext under mutual TLS too (a
 * TLSSocket counts what it was given and what it decrypted). For a tunnel they include the
 * upgrade's own request and 101 heads.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Endpoint } from '../../balancer/types.js';
import { verdictOf, type Verdict } from '../classify.js';
import type { Direction, Layer, Outcome, ProxyRequest } from '../types.js';
import { endpointOf } from './outcome.js';

export type ConnectionProtocol = 'tcp' | 'websocket';

/** A connection that is open (relayed to `endpoint`). */
export interface OpenConnection {
  readonly request: ProxyRequest;
  readonly protocol: ConnectionProtocol;
  readonly direction: Direction;
  readonly service: string;
  /** Outbound: this sidecar's service; inbound: the caller's, from its mTLS identity ('' when unknown). */
  readonly src: string;
  readonly endpoint: Endpoint | undefined;
}

/** A connection that ended (or never opened). */
export interface ConnectionRecord extends OpenConnection {
  /** It was relayed (the sinks were told it opened). */
  readonly relayed: boolean;
  readonly verdict: Verdict;
  /** The trellis-error code when it could not be relayed, else ''. */
  readonly error: string;
  /** Endpoints tried (1 unless connects were retried). */
  readonly attempts: number;
  /** From the connection's arrival to the upstream connection (or the failure). */
  readonly connectMs: number;
  /** From its arrival to its close. */
  readonly durationMs: number;
  /** Client → upstream. */
  readonly sentBytes: number;
  /** Upstream → client. */
  readonly receivedBytes: number;
}

export interface ConnectionSink {
  opened?(connection: OpenConnection): void;
  closed(record: ConnectionRecord): void;
}

function isSocket(body: unknown): body is Socket {
  return typeof body === 'object' && body !== null && typeof (body as Partial<Socket>).bytesWritten === 'number';
}

/** `onSinkError`: a sink threw (the relay must go on whatever its telemetry does). */
export function createConnectionObserveLayer(sinks: readonly ConnectionSink[], localService: string, onSinkError: (err: unknown) => void, protocol: ConnectionProtocol = 'tcp'): Layer {
  const each = (call: (sink: ConnectionSink) => void): void => {
    for (const sink of sinks) {
      try { call(sink); } catch (err) { onSinkError(err); }
    }
  };
  const base = (request: ProxyRequest, outcome: Outcome): OpenConnection => {
    const { direction, service } = request.target;
    return { request, protocol, direction, service, src: direction === 'inbound' ? request.peer?.service ?? '' : localService, endpoint: endpointOf(outcome) };
  };
  const observe = (request: ProxyRequest, outcome: Outcome): Outcome => {
    if (protocol === 'websocket' && (!outcome.ok || outcome.response.status !== 101 || !isSocket(outcome.response.body))) return outcome;
    const connectMs = performance.now() - request.startedAt;
    const verdict = verdictOf(request, outcome);
    const open = base(request, outcome);
    const record = (relayed: boolean, sentBytes: number, receivedBytes: number): ConnectionRecord => ({
      ...open, relayed, verdict, error: outcome.ok ? '' : outcome.failure.error.code, attempts: request.tried.size,
      connectMs, durationMs: performance.now() - request.startedAt, sentBytes, receivedBytes,
    });
    const socket = outcome.ok ? outcome.response.body : null;
    if (!isSocket(socket) || socket.destroyed) {
      each((sink) => sink.closed(record(false, 0, 0)));
      return outcome;
    }
    each((sink) => sink.opened?.(open));
    socket.once('close', () => each((sink) => sink.closed(record(true, socket.bytesWritten, socket.bytesRead))));
    return outcome;
  };
  return (next) => (request) => next(request).then((outcome) => observe(request, outcome));
}
