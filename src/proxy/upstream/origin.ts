/** What every HTTP upstream of the sidecar offers (HTTP/1 raw or undici, HTTP/2), and the key of an endpoint's pool. */
import type { Endpoint } from '../../balancer/types.js';
import { formatHostPort } from '../../util/host-port.js';
import type { EndpointHandler } from '../types.js';

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

/**
 * Remove from `pools` (keyed by origin, or `origin service` with mTLS) those whose origin is
 * not in `origins`, closing each with `close`.
 */
export function retainPools<P>(pools: Map<string, P>, origins: ReadonlySet<string>, close: (pool: P) => void): void {
  for (const [key, pool] of pools) {
    if (origins.has(key.split(' ')[0])) continue;
    pools.delete(key);
    close(pool);
  }
}
