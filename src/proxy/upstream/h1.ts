/**
 * HTTP/1.1 to endpoints on raw `net`/`tls` sockets: one {@link EndpointPool} per endpoint
 * (per endpoint and service with mutual TLS: the peer's identity is checked per service),
 * each request an {@link H1Exchange}. One sweep a second (unref'd) closes idle connections
 * past the keep-alive timeout and fails response bodies that stalled. Pools of endpoints
 * that left every table are closed by `retain` (their busy connections finish first).
 */
import { performance } from 'node:perf_hooks';
import type { Endpoint } from '../../balancer/types.js';
import type { ErrorCode } from '../../errors.js';
import type { ClientTls } from '../../security/mtls/client.js';
import type { EndpointHandler, Outcome, ProxyRequest } from '../types.js';
import { H1Exchange, type ExchangeContext } from './h1-exchange.js';
import type { HttpUpstream } from './origin.js';
import { originOf, retainPools } from './origin.js';
import { EndpointPool, type PoolOptions } from './pool.js';

export interface RawHttpUpstreamOptions {
  /** The failure code for "cannot connect": UPSTREAM_CONNECT (a peer sidecar) or APP_UNAVAILABLE (the local app). */
  readonly unreachable: ErrorCode;
  /** Most connections to one endpoint; null = no limit (default). */
  readonly connectionsPerEndpoint?: number | null;
  /** Idle keep-alive connections close after this long (default 4 s, under Node's 5 s server default). */
  readonly keepAliveTimeoutMs?: number;
  /** Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** A response body with no byte for this long fails with UPSTREAM_TIMEOUT (default 60 s). */
  readonly bodyIdleTimeoutMs?: number;
  /** Largest response head (default 16 KiB, as the listeners'). */
  readonly maxHeaderSize?: number;
  /** Mutual TLS to peer sidecars (absent: plaintext, as to the local app). */
  readonly tls?: ClientTls;
}

/** Pool sockets, for the status and the leak tests. */
export interface PoolCounts {
  readonly pools: number;
  readonly open: number;
  readonly idle: number;
}

export interface RawHttpUpstream extends HttpUpstream {
  counts(): PoolCounts;
}

const SWEEP_INTERVAL_MS = 1_000;

export function createRawHttpUpstream(options: RawHttpUpstreamOptions): RawHttpUpstream {
  const pools = new Map<string, EndpointPool>();
  let byEndpoint = new WeakMap<Endpoint, Map<string, EndpointPool>>();
  const { tls } = options;
  const base = {
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 4_000,
    maxConnections: options.connectionsPerEndpoint ?? null,
    tls,
    maxHeaderSize: options.maxHeaderSize ?? 16 * 1024,
  };
  const context: ExchangeContext = {
    unreachable: options.unreachable,
    streaming: new Set(),
    bodyIdleTimeoutMs: options.bodyIdleTimeoutMs ?? 60_000,
  };

  const poolFor = (endpoint: Endpoint, service: string): EndpointPool => {
    // Endpoint objects are kept across table updates while unchanged: their pools are cached on them.
    let cached = byEndpoint.get(endpoint);
    let pool = cached?.get(service);
    if (pool !== undefined && !pool.closed) return pool;
    const origin = originOf(endpoint);
    const key = tls === undefined ? origin : `${origin} ${service}`;
    pool = pools.get(key);
    if (pool === undefined || pool.closed) {
      const poolOptions: PoolOptions = { ...base, service };
      pool = new EndpointPool(endpoint, poolOptions);
      pools.set(key, pool);
    }
    if (cached === undefined) byEndpoint.set(endpoint, cached = new Map());
    cached.set(service, pool);
    return pool;
  };

  const timer = setInterval(() => {
    const now = performance.now();
    for (const pool of pools.values()) pool.sweep(now);
    for (const exchange of context.streaming) exchange.checkIdle(now);
  }, SWEEP_INTERVAL_MS);
  timer.unref();

  const send: EndpointHandler = (request: ProxyRequest, endpoint: Endpoint) => new Promise<Outcome>((resolve) => {
    new H1Exchange(request, endpoint, poolFor(endpoint, request.target.service), context, resolve).start();
  });

  return {
    send,
    retain(origins) {
      retainPools(pools, origins, (pool) => pool.close(false));
      byEndpoint = new WeakMap();
    },
    async close() {
      clearInterval(timer);
      for (const pool of pools.values()) pool.close(true);
      pools.clear();
      byEndpoint = new WeakMap();
    },
    counts() {
      let open = 0;
      let idle = 0;
      for (const pool of pools.values()) {
        open += pool.size;
        idle += pool.idle;
      }
      return { pools: pools.size, open, idle };
    },
  };
}
