/** An HTTP/1 listener: an Http1Site served on a bound address. */
import type { Duplex } from 'node:stream';
import type { HostPort } from '../../util/host-port.js';
import { createHttp1Server, type Http1Limits } from '../http1/server.js';
import type { Http1Site } from '../http1/serve.js';
import { bindBehindFront, stopListening, type Front, type Listener } from './listener.js';

export async function startHttpListener(name: string, at: HostPort, field: string, site: Http1Site, limits: Http1Limits, front?: Front): Promise<Listener> {
  /** Upgraded (WebSocket) connections: Node's server no longer tracks them. */
  const tunnels = new Set<Duplex>();
  const server = createHttp1Server(site, limits, tunnels);
  const { listening, accepting, address } = await bindBehindFront(server, front, at, name, field);
  // Node's HTTP server starts its headers/request timeout checks on 'listening': the front listens for it.
  if (accepting !== undefined) server.emit('listening');
  let stopped: Promise<void> | undefined;
  return {
    name,
    address,
    inFlight: () => site.stats.inFlight,
    stats: site.stats,
    stopAccepting() {
      // Node also closes idle keep-alive connections here; busy ones get `connection: close` answers while draining.
      stopped ??= stopListening(listening);
    },
    async close() {
      stopped ??= stopListening(listening);
      server.closeAllConnections();
      for (const tunnel of tunnels) tunnel.destroy();
      accepting?.destroyPending();
      if (accepting !== undefined) server.close(() => undefined); // stops the timeout checks
      await stopped;
    },
  };
}
