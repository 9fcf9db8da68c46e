/**
 * Limits on the API's listener, so that no client — slow, many, or hostile — can starve the
 * control plane of file descriptors or of the connections its sidecars need (heartbeats,
 * presence streams, watches) and its own store, etcd client and membership lease:
 *
 * - timeouts: the request head within `headerTimeoutMs` (≤ 10 s), the whole request within
 *   `requestTimeoutMs`, no byte either way for `idleTimeoutMs`, `keepAliveTimeoutMs` between
 *   requests, at most `maxRequestsPerConnection` requests on one connection;
 * - counts: at most `maxConnections` open (lowered to keep a quarter of the process's fd limit
 *   free) and `maxConnectionsPerSource` from one address, of which at most
 *   `maxPendingPerSource` may be *unfinished* (no complete request head yet).
 *
 * Shedding, not refusing: when a limit is reached, the oldest unfinished connection (of that
 * source for a source's limits, of all for the global one) is closed to make room, so a slowloris flood only ever competes with
 * itself — a sidecar's new connection sends its head within milliseconds and is then safe,
 * and connections that finished a request head (keep-alive clients, streams) are never shed.
 * A new connection is refused only when every slot holds such a connection.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { formatDuration } from '../../util/duration.js';

export interface ListenerLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerSource: number;
  readonly maxPendingPerSource: number;
  readonly headerTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxRequestsPerConnection: number;
}

/** The defaults (docs/operations.md, "Listener limits"). */
export const DEFAULT_LISTENER_LIMITS: ListenerLimits = Object.freeze({
  maxConnections: 4_096,
  maxConnectionsPerSource: 1_024,
  maxPendingPerSource: 256,
  headerTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 120_000,
  keepAliveTimeoutMs: 5_000,
  maxRequestsPerConnection: 1_000,
});

/** The longest header timeout allowed. */
export const MAX_HEADER_TIMEOUT_MS = 10_000;

/** How often Node checks the header and request timeouts of open connections. */
export const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

export type RefusalReason = 'shed_unfinished' | 'max_connections' | 'max_per_source';
export const REFUSAL_REASONS: readonly RefusalReason[] = ['shed_unfinished', 'max_connections', 'max_per_source'];

/** The process's soft limit on open files (Linux: /proc/self/limits), undefined when unknown. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/** File descriptors kept free for everything but API clients: the store, etcd, health checks, DNS, logs. */
export function reservedFds(fdLimit: number): number {
  return Math.max(256, Math.floor(fdLimit / 4));
}

/** `maxConnections`, lowered when the fd limit would not leave {@link reservedFds} free. */
export function effectiveMaxConnections(configured: number, fdLimit: number | undefined): number {
  if (fdLimit === undefined) return configured;
  return Math.max(16, Math.min(configured, fdLimit - reservedFds(fdLimit)));
}

export interface ConnectionGuard {
  readonly maxConnections: number;
  /** Open connections, and those among them without a complete request head. */
  open(): number;
  unfinished(): number;
  /** Connections closed to make room, or refused, since start, by reason. */
  refused(): Readonly<Record<RefusalReason, number>>;
}

interface Source {
  open: number;
  /** Unfinished connections of this source, oldest first. */
  readonly pending: Set<Socket>;
}

/** The TCP socket under a TLS one (Node keeps it as `_parent`), so HTTPS is guarded the same. */
function tcpSocketOf(socket: Socket): Socket {
  return (socket as Socket & { _parent?: Socket })._parent ?? socket;
}

function sourceKey(socket: Socket): string {
  const address = socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Apply `limits` to an HTTP(S) server that has not started listening yet. */
export function guardListener(server: Server, limits: ListenerLimits, maxConnections: number): ConnectionGuard {
  server.headersTimeout = limits.headerTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxRequestsPerSocket = limits.maxRequestsPerConnection;
  server.setTimeout(limits.idleTimeoutMs, (socket) => socket.destroy());

  const sources = new Map<string, Source>();
  const pending = new Set<Socket>();
  const sourceOf = new WeakMap<Socket, Source>();
  const counts: Record<RefusalReason, number> = { shed_unfinished: 0, max_connections: 0, max_per_source: 0 };
  let open = 0;

  const forget = (socket: Socket): void => {
    const source = sourceOf.get(socket);
    if (source === undefined) return;
    sourceOf.delete(socket);
    open -= 1;
    source.open -= 1;
    source.pending.delete(socket);
    pending.delete(socket);
    if (source.open === 0) sources.delete(sourceKey(socket));
  };
  const shed = (socket: Socket | undefined): boolean => {
    if (socket === undefined) return false;
    forget(socket);
    socket.destroy();
    counts.shed_unfinished += 1;
    return true;
  };
  const oldest = (set: Set<Socket>): Socket | undefined => set.values().next().value;

  server.prependListener('connection', (socket: Socket) => {
    const key = sourceKey(socket);
    let source = sources.get(key);
    if (source === undefined) sources.set(key, (source = { open: 0, pending: new Set() }));
    if (source.open >= limits.maxConnectionsPerSource && !shed(oldest(source.pending))) {
      counts.max_per_source += 1;
      if (source.open === 0) sources.delete(key);
      socket.destroy();
      return;
    }
    if (source.pending.size >= limits.maxPendingPerSource) shed(oldest(source.pending));
    if (open >= maxConnections && !shed(oldest(pending))) {
      counts.max_connections += 1;
      if (source.open === 0) sources.delete(key);
      socket.destroy();
      return;
    }
    open += 1;
    source.open += 1;
    source.pending.add(socket);
    pending.add(socket);
    sourceOf.set(socket, source);
    socket.once('close', () => forget(socket));
  });
  // A complete request head: from now on the connection is a client's, not a slow one's.
  // (An upgrade request — the heartbeat stream — has a complete head too, without a 'request' event.)
  const finished = (request: IncomingMessage): void => {
    const socket = tcpSocketOf(request.socket);
    const source = sourceOf.get(socket);
    if (source === undefined || !source.pending.delete(socket)) return;
    pending.delete(socket);
  };
  server.prependListener('request', finished);
  server.prependListener('upgrade', finished);

  return {
    maxConnections,
    open: () => open,
    unfinished: () => pending.size,
    refused: () => ({ ...counts }),
  };
}

/** The `trellis server` flag of each limit, for messages. */
const FLAGS: Readonly<Record<keyof ListenerLimits, string>> = {
  maxConnections: '--max-connections',
  maxConnectionsPerSource: '--max-connections-per-source',
  maxPendingPerSource: '--max-unfinished-per-source',
  headerTimeoutMs: '--header-timeout',
  requestTimeoutMs: '--request-timeout',
  idleTimeoutMs: '--idle-timeout',
  keepAliveTimeoutMs: '--keepalive-timeout',
  maxRequestsPerConnection: '--max-requests-per-connection',
};

/**
 * The defaults with `given` laid over them, checked as a whole: the header timeout at most
 * 10 s and within the request timeout, the idle timeout longer than the watch keep-alive (or
 * idle streams would be cut), per-source limits within the global one.
 * @throws TrellisError BAD_FLAG naming the flag.
 */
export function listenerLimits(given: Partial<ListenerLimits>, watchKeepAliveMs = 15_000): ListenerLimits {
  const limits: ListenerLimits = { ...DEFAULT_LISTENER_LIMITS, ...given };
  const fail = (key: keyof ListenerLimits, message: string): never => {
    throw new TrellisError(ErrorCodes.BAD_FLAG, `${FLAGS[key]} ${message}`, { field: FLAGS[key].slice(2) });
  };
  if (limits.headerTimeoutMs > MAX_HEADER_TIMEOUT_MS) fail('headerTimeoutMs', `must be at most ${formatDuration(MAX_HEADER_TIMEOUT_MS)} (a longer one lets slow clients hold connections)`);
  if (limits.headerTimeoutMs > limits.requestTimeoutMs) fail('headerTimeoutMs', `(${formatDuration(limits.headerTimeoutMs)}) must not be longer than --request-timeout (${formatDuration(limits.requestTimeoutMs)})`);
  if (limits.idleTimeoutMs <= watchKeepAliveMs) fail('idleTimeoutMs', `(${formatDuration(limits.idleTimeoutMs)}) must be longer than --watch-keepalive (${formatDuration(watchKeepAliveMs)}), or quiet watch streams would be cut`);
  if (limits.maxConnectionsPerSource > limits.maxConnections) fail('maxConnectionsPerSource', `(${limits.maxConnectionsPerSource}) must not exceed --max-connections (${limits.maxConnections})`);
  if (limits.maxPendingPerSource > limits.maxConnectionsPerSource) fail('maxPendingPerSource', `(${limits.maxPendingPerSource}) must not exceed --max-connections-per-source (${limits.maxConnectionsPerSource})`);
  return Object.freeze(limits);
}
