/** An HTTP/2 (h2c) listener: a site served on a bound address, its sessions closed gracefully on drain. */
import type { ServerHttp2Session } from 'node:http2';
import type { HostPort } from '../../util/host-port.js';
import type { Http1Limits } from '../http1/server.js';
import type { Http1Site } from '../http1/serve.js';
import { createHttp2Server } from '../http2/server.js';
import { bindBehindFront, stopListening, type Front, type Listener } from './listener.js';

export async function startHttp2Listener(name: string, at: HostPort, field: string, site: Http1Site, limits: Http1Limits, front?: Front): Promise<Listener> {
  const sessions = new Set<ServerHttp2Session>();
  const server = createHttp2Server(site, limits, sessions);
  const { listening, accepting, address } = await bindBehindFront(server, front, at, name, field);
  let stopped: Promise<void> | undefined;
  return {
    name,
    address,
    inFlight: () => site.stats.inFlight,
    stats: site.stats,
    stopAccepting() {
      stopped ??= stopListening(listening);
      // GOAWAY: streams in flight finish; clients open new ones elsewhere.
      for (const session of sessions) session.close();
    },
    async close() {
      stopped ??= stopListening(listening);
      for (const session of sessions) session.destroy();
      accepting?.destroyPending();
      await stopped;
    },
  };
}
