/**
 * HTTP/1.1 to endpoints with undici: one keep-alive Pool per endpoint address, reused
 * across requests; bodies stream both ways. Pools of endpoints that left every table
 * are closed (after their in-flight requests) by `retain`.
 */
import { Pool, type Dispatcher } from 'undici';
import type { Endpoint } from '../../balancer/types.js';
import type { ErrorCode } from '../../errors.js';
import type { ClientTls } from '../../security/mtls/client.js';
import { formatHostPort } from '../../util/host-port.js';
import type { EndpointHandler, Outcome, ProxyRequest } from '../types.js';
import { Exchange } from './exchange.js';

export interface HttpUpstreamOptions {
  /** The failure code for "cannot connect": UPSTREAM_CONNECT (a peer sidecar) or APP_UNAVAILABLE (the local app). */
  readonly unreachable: ErrorCode;
  /** Most connections to one endpoint; null = no limit (default). */
  readonly connectionsPerEndpoint?: number | null;
  /** Idle keep-alive connections close after this long (default 4 s, under Node's 5 s server default). */
  readonly keepAliveTimeoutMs?: number;
  /** Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Mutual TLS to peer sidecars (absent: plaintext, as to the local app). */
  readonly tls?: ClientTls;
}

export interface HttpUpstream {
  readonly send: EndpointHandler;
  /** Close the pools of endpoints whose origin is not in `origins` (in-flight requests finish first). */
  retain(origins: ReadonlySet<string>): void;
  /** Destroy every pool now. */
  close(): Promise<void>;
}

/** `http://127.0.0.1:8080`: the key of an endpoint's pool. */
export function originOf(endpoint: Pick<Endpoint, 'address' | 'port'>): string {
  return `http://${formatHostPort({ host: endpoint.address, port: endpoint.port })}`;
}

export function createHttpUpstream(options: HttpUpstreamOptions): HttpUpstream {
  const pools = new Map<string, Pool>();
  /** Endpoint objects are kept across table updates while unchanged: cache their pool. */
  let byEndpoint = new WeakMap<Endpoint, Pool>();
  const poolOptions: Pool.Options = {
    connections: options.connectionsPerEndpoint ?? null,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    pipelining: 1,
  };

  const { tls } = options;
  const poolFor = (endpoint: Endpoint, service: string): Pool => {
    let pool = byEndpoint.get(endpoint);
    if (pool !== undefined && !pool.closed) return pool;
    const origin = originOf(endpoint);
    // With mTLS a pool also belongs to the service it verifies the peer against.
    const key = tls === undefined ? origin : `${origin} ${service}`;
    pool = pools.get(key);
    if (pool === undefined || pool.closed) {
      pool = new Pool(origin, tls === undefined ? poolOptions : { ...poolOptions, connect: tls.undici(service, poolOptions.connectTimeout ?? 5_000) });
      pools.set(key, pool);
    }
    byEndpoint.set(endpoint, pool);
    return pool;
  };

  const send: EndpointHandler = (request: ProxyRequest, endpoint: Endpoint) => new Promise<Outcome>((resolve) => {
    const exchange = new Exchange(request, endpoint, options.unreachable, resolve);
    poolFor(endpoint, request.target.service).dispatch({
      path: request.path,
      method: request.method as Dispatcher.HttpMethod,
      headers: request.headers,
      body: request.body.open(),
    }, exchange);
  });

  return {
    send,
    retain(origins) {
      for (const [key, pool] of pools) {
        if (origins.has(key.split(' ')[0])) continue;
        pools.delete(key);
        pool.close().catch(() => undefined);
      }
      byEndpoint = new WeakMap();
    },
    async close() {
      const all = [...pools.values()];
      pools.clear();
      byEndpoint = new WeakMap();
      await Promise.all(all.map((pool) => pool.destroy().catch(() => undefined)));
    },
  };
}
