/**
 * One long-lived HTTP/2 (h2c) session per endpoint, shared by every stream to it. A
 * session that gets a GOAWAY, fails or closes is forgotten at once (its streams in flight
 * finish on it), and the next stream to that endpoint connects anew. A connect that takes
 * longer than the connect timeout fails the session (ETIMEDOUT).
 */
import { connect, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect } from 'node:net';
import type { Endpoint } from '../../balancer/types.js';
import { ALPN_H2, type ClientTls } from '../../security/mtls/client.js';
import { originOf } from './origin.js';

/** Per-stream flow-control window: larger than HTTP/2's 64 KiB default so that one stream can fill a fast link. */
const STREAM_WINDOW_BYTES = 1024 * 1024;

export class Http2Sessions {
  readonly #sessions = new Map<string, ClientHttp2Session>();
  readonly #connectTimeoutMs: number;
  readonly #tls: ClientTls | undefined;

  /** With `tls`, sessions to peer sidecars run over mutual TLS (ALPN h2). */
  constructor(connectTimeoutMs: number, tls?: ClientTls) {
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#tls = tls;
  }

  /** The endpoint's session (to a sidecar of `service`): the open one, or a new one (still connecting). */
  get(endpoint: Endpoint, service: string): ClientHttp2Session {
    const tls = this.#tls;
    const origin = tls === undefined ? originOf(endpoint) : `${originOf(endpoint)} ${service}`;
    const existing = this.#sessions.get(origin);
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const session = connect(originOf(endpoint), {
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW_BYTES },
      createConnection: () => (tls === undefined
        ? netConnect({ host: endpoint.address, port: endpoint.port, noDelay: true })
        : tls.connect(endpoint.address, endpoint.port, service, ALPN_H2)),
    });
    const timer = setTimeout(() => {
      session.destroy(Object.assign(new Error(`connect to ${originOf(endpoint)} timed out after ${this.#connectTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, this.#connectTimeoutMs);
    const forget = (): void => {
      clearTimeout(timer);
      if (this.#sessions.get(origin) === session) this.#sessions.delete(origin);
    };
    session.once('connect', () => clearTimeout(timer));
    session.once('goaway', forget);
    session.once('close', forget);
    session.on('error', forget); // its streams fail with their own errors
    this.#sessions.set(origin, session);
    return session;
  }

  /** Close (gracefully) the sessions of endpoints whose origin is not in `origins`. */
  retain(origins: ReadonlySet<string>): void {
    for (const [key, session] of this.#sessions) {
      if (origins.has(key.split(' ')[0])) continue;
      this.#sessions.delete(key);
      session.close();
    }
  }

  close(): void {
    for (const session of this.#sessions.values()) session.destroy();
    this.#sessions.clear();
  }
}
