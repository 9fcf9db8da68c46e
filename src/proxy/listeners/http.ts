/** An HTTP/1 listener: an Http1Site served on a bound address. */
import type { Duplex } from 'node:stream';
import type { HostPort } from '../../util/host-port.js';
import { createHttp1Server, type Http1Limits } from '../http1/server.js';
import type { Http1Site } from '../http1/serve.js';
import { bind, stopListening, type Listener } from './listener.js';

export async function startHttpListener(name: string, at: HostPort, field: string, site: Http1Site, limits: Http1Limits): Promise<Listener> {
  /** Upgraded (WebSocket) connections: Node's server no longer tracks them. */
  const tunnels = new Set<Duplex>();
  const server = createHttp1Server(site, limits, tunnels);
  const address = await bind(server, at, name, field);
  let stopped: Promise<void> | undefined;
  return {
    name,
    address,
    inFlight: () => site.stats.inFlight,
    stats: site.stats,
    stopAccepting() {
      // Node also closes idle keep-alive connections here; busy ones get `connection: close` answers while draining.
      stopped ??= stopListening(server);
    },
    async close() {
      stopped ??= stopListening(server);
      server.closeAllConnections();
      for (const tunnel of tunnels) tunnel.destroy();
      await stopped;
    },
  };
}
