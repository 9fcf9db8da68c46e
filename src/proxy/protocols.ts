/**
 * Protocol modules, registered by name as balancer strategies are (src/balancer/registry.ts):
 * each is a server (what a listener runs on the connections it accepts) and an upstream
 * (how the pipeline's innermost handler reaches an endpoint). Listeners take a protocol;
 * none calls node:http or node:http2 itself.
 *
 *   http1        HTTP/1.1 on raw net/tls sockets, Node's native llhttp, own pool (default)
 *   http1-node   node:http + undici, the former path (`http.engine: node`) while http1 is proven
 *   h2c          HTTP/2 with prior knowledge on node:http2 (http2 and grpc services)
 */
import type { Duplex } from 'node:stream';
import { ErrorCodes, TrellisError } from '../errors.js';
import type { Http1Site } from './http1/serve.js';
import type { RawLimits } from './http1/connection.js';
import type { HttpUpstream } from './upstream/origin.js';
import type { RawHttpUpstreamOptions } from './upstream/h1.js';

/** What a protocol's server does with a listener's connections. */
export interface ProtocolServer {
  /** A connection the listener accepted (a net.Socket, or a TLSSocket from the mTLS front). */
  accept(socket: Duplex): void;
  /** Draining: idle connections close now, busy ones after their answer. */
  stopAccepting(): void;
  /** Close every connection now. */
  close(): void;
}

export type ServerLimits = RawLimits;
export type UpstreamOptions = RawHttpUpstreamOptions;

export interface ProtocolModule {
  readonly name: string;
  server(site: Http1Site, limits: ServerLimits): ProtocolServer;
  upstream(options: UpstreamOptions): HttpUpstream;
}

const modules = new Map<string, () => Promise<ProtocolModule>>();

/** Register a protocol (loaded on first use: a sidecar loads only the protocols it serves). */
export function registerProtocol(name: string, load: () => Promise<ProtocolModule>): void {
  modules.set(name, load);
}

export function protocolNames(): readonly string[] {
  return [...modules.keys()];
}

export async function protocol(name: string): Promise<ProtocolModule> {
  const load = modules.get(name);
  if (load === undefined) {
    throw new TrellisError(ErrorCodes.CONFIG, `unknown protocol ${JSON.stringify(name)}: use one of ${protocolNames().join(', ')}`);
  }
  return load();
}

/** The HTTP/1.1 protocol a sidecar runs for `engine` (config http.engine). */
export function http1Protocol(engine: 'raw' | 'node' | undefined): Promise<ProtocolModule> {
  return protocol(engine === 'node' ? 'http1-node' : 'http1');
}

registerProtocol('http1', async () => (await import('./protocols/http1.js')).http1);
registerProtocol('http1-node', async () => (await import('./protocols/http1-node.js')).http1Node);
registerProtocol('h2c', async () => (await import('./protocols/h2c.js')).h2c);
