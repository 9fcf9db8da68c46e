/**
 * HTTP listeners: a bound address (or the mTLS front in front of it) whose connections go to
 * a protocol's server (src/proxy/protocols.ts) — HTTP/1.1 (raw sockets by default, node:http
 * with `http.engine: node`) or HTTP/2 with prior knowledge. No listener calls node:http itself.
 */
import { createServer } from 'node:net';
import type { HostPort } from '../../util/host-port.js';
import type { Http1Limits } from '../http1/server.js';
import type { Http1Site } from '../http1/serve.js';
import { http1Protocol, protocol, type ProtocolModule } from '../protocols.js';
import { bind, stopListening, type Front, type Listener } from './listener.js';

/** A listener whose connections `module` serves for `site`. */
export async function startProtocolListener(module: ProtocolModule, name: string, at: HostPort, field: string, site: Http1Site, limits: Http1Limits, front?: Front): Promise<Listener> {
  const server = module.server(site, limits);
  const accepting = front?.((socket) => server.accept(socket));
  // allowHalfOpen: a client that shuts down its sending side still gets its answer.
  const listening = accepting?.server ?? createServer({ allowHalfOpen: true, noDelay: true }, (socket) => server.accept(socket));
  let address: HostPort;
  try {
    address = await bind(listening, at, name, field);
  } catch (err) {
    server.close();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return {
    name,
    address,
    inFlight: () => site.stats.inFlight,
    stats: site.stats,
    stopAccepting() {
      stopped ??= stopListening(listening);
      server.stopAccepting();
    },
    async close() {
      stopped ??= stopListening(listening);
      server.close();
      accepting?.destroyPending();
      await stopped;
    },
  };
}

/** An HTTP/1 listener (upgrades and h2c prior knowledge included), on the protocol `limits.engine` names. */
export async function startHttpListener(name: string, at: HostPort, field: string, site: Http1Site, limits: Http1Limits, front?: Front): Promise<Listener> {
  return startProtocolListener(await http1Protocol(limits.engine), name, at, field, site, limits, front);
}

/** An HTTP/2 (h2c) listener: its sessions closed gracefully on drain. */
export async function startHttp2Listener(name: string, at: HostPort, field: string, site: Http1Site, limits: Http1Limits, front?: Front): Promise<Listener> {
  return startProtocolListener(await protocol('h2c'), name, at, field, site, limits, front);
}
