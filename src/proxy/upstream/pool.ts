/**
 * The raw-socket HTTP/1.1 path's connection pool to one endpoint (a peer sidecar over
 * mutual TLS, or the local app in plaintext): idle keep-alive connections reused last-in
 * first-out, a cap on connections (requests beyond it wait in order), a connect timeout,
 * idle connections closed after the keep-alive timeout by the upstream's sweep, and every
 * connection that closes or fails evicted at once — a dead socket is never handed out twice
 * (an idle one that the server closed, or that sent bytes nobody asked for, is dropped the
 * moment it does). TLS sessions are resumed (ClientTls keeps them per peer).
 *
 * Each connection has one llhttp response parser and one set of socket listeners for its
 * whole life; they dispatch to the exchange it serves at the moment (./h1-exchange.ts).
 * Plaintext connections read into one buffer shared by all of them (`onread`): a read is
 * parsed at once and llhttp copies body bytes out, so no Buffer is made per read and no
 * stream machinery runs for it.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Endpoint } from '../../balancer/types.js';
import { ALPN_HTTP1, type ClientTls } from '../../security/mtls/client.js';
import { formatHostPort } from '../../util/host-port.js';
import {
  HEAD_CONTINUE, kOnBody, kOnHeaders, kOnHeadersComplete, kOnMessageComplete, newParser, RESPONSE, type LlhttpParser, type ParserError,
} from '../http1/llhttp.js';

/** What a connection tells the exchange it serves. */
export interface ConnectionUser {
  /** A response head: return 1 to tell the parser no body follows (a response to HEAD). */
  onHead(status: number, rawHeaders: string[], keepAlive: boolean): number;
  onBody(chunk: Buffer): void;
  onComplete(): void;
  /** The connection broke (error, close, or a response the parser refused). */
  onBroken(err: Error): void;
  onDrain(): void;
}

/** Someone waiting for a connection. */
export interface PoolWaiter {
  onConnection(connection: UpstreamConnection): void;
  onConnectError(err: Error): void;
}

export interface PoolOptions {
  readonly connectTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** Most connections open at once; null = no limit. */
  readonly maxConnections: number | null;
  /** Mutual TLS to a peer sidecar of `service`; absent: plaintext. */
  readonly tls?: ClientTls | undefined;
  readonly service: string;
  readonly maxHeaderSize: number;
}

/** The read buffer of every plaintext upstream connection (see above). */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export class UpstreamConnection {
  readonly socket: Socket;
  readonly #pool: EndpointPool;
  #parser: LlhttpParser | undefined;
  #user: ConnectionUser | undefined;
  #partial: string[] = [];
  /** performance.now() since it is idle in the pool. */
  idleSince = 0;
  /** Requests served on it (0: a fresh connection). */
  uses = 0;
  #dead = false;

  /** `ownReads` false: the socket was made with `onread`, and its reads come through {@link read}. */
  constructor(socket: Socket, pool: EndpointPool, maxHeaderSize: number, ownReads = true) {
    this.socket = socket;
    this.#pool = pool;
    const parser = newParser(RESPONSE, maxHeaderSize);
    parser[kOnHeaders] = this.#onHeaders;
    parser[kOnHeadersComplete] = this.#onHeadersComplete;
    parser[kOnBody] = this.#onBody;
    parser[kOnMessageComplete] = this.#onMessageComplete;
    this.#parser = parser;
    if (ownReads) socket.on('data', this.read);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    socket.on('drain', this.#onDrain);
  }

  get dead(): boolean {
    return this.#dead || this.socket.destroyed || !this.socket.writable;
  }

  /** Serve `user` (one request) on this connection. */
  attach(user: ConnectionUser): void {
    this.#user = user;
    this.uses += 1;
  }

  detach(): void {
    this.#user = undefined;
  }

  destroy(): void {
    this.#dead = true;
    this.socket.destroy();
  }

  /** Bytes from the endpoint (a 'data' chunk, or a view of the shared read buffer, parsed before it returns). */
  readonly read = (chunk: Buffer): void => {
    const parser = this.#parser;
    if (this.#user === undefined || parser === undefined) {
      // Bytes on an idle connection: nobody asked for them; it cannot be trusted with a request.
      this.destroy();
      return;
    }
    const result = parser.execute(chunk);
    if (typeof result !== 'number') this.#broken(parserError(result));
  };

  readonly #onHeaders = (headers: string[]): void => {
    for (let i = 0; i < headers.length; i++) this.#partial.push(headers[i]);
  };

  readonly #onHeadersComplete = (_major: number, _minor: number, headers: string[] | undefined, _method: unknown, _url: unknown,
    status: number, _message: unknown, _upgrade: boolean, keepAlive: boolean): number => {
    let raw = headers;
    if (raw === undefined) {
      raw = this.#partial;
      this.#partial = [];
    }
    return this.#user?.onHead(status, raw, keepAlive) ?? HEAD_CONTINUE;
  };

  readonly #onBody = (chunk: Buffer): void => {
    this.#user?.onBody(chunk);
  };

  readonly #onMessageComplete = (): void => {
    this.#user?.onComplete();
  };

  readonly #onEnd = (): void => {
    // A read-until-close body ends here; a truncated one is an error.
    const err = this.#user === undefined ? undefined : this.#parser?.finish();
    this.#dead = true;
    if (err !== undefined) this.#broken(parserError(err));
    else this.#broken(Object.assign(new Error('the connection was closed by the endpoint'), { code: 'ECONNRESET' }));
  };

  readonly #onError = (err: Error): void => {
    this.#broken(err);
  };

  readonly #onClose = (): void => {
    this.#dead = true;
    this.#broken(Object.assign(new Error('the connection was closed'), { code: 'ECONNRESET' }));
    const parser = this.#parser;
    if (parser !== undefined) {
      this.#parser = undefined;
      parser.remove();
      parser.free();
    }
    this.#pool.evict(this);
  };

  readonly #onDrain = (): void => {
    this.#user?.onDrain();
  };

  #broken(err: Error): void {
    this.#dead = true;
    const user = this.#user;
    this.#user = undefined;
    if (!this.socket.destroyed) this.socket.destroy();
    user?.onBroken(err);
  }
}

function parserError(err: ParserError): Error {
  return Object.assign(new Error(`the endpoint sent a malformed response: ${err.reason ?? err.code}`), { code: err.code });
}

export class EndpointPool {
  readonly endpoint: Endpoint;
  readonly #options: PoolOptions;
  readonly #idle: UpstreamConnection[] = [];
  readonly #all = new Set<UpstreamConnection>();
  #connecting = 0;
  readonly #waiters: PoolWaiter[] = [];
  #closed = false;

  constructor(endpoint: Endpoint, options: PoolOptions) {
    this.endpoint = endpoint;
    this.#options = options;
  }

  /** Connections open (busy and idle) and being opened. */
  get size(): number {
    return this.#all.size + this.#connecting;
  }

  get idle(): number {
    return this.#idle.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A connection for `waiter`: an idle one, a new one, or the next one freed when at the cap. */
  acquire(waiter: PoolWaiter): void {
    if (this.#closed) {
      waiter.onConnectError(Object.assign(new Error('the connection pool was closed (the endpoint left the table)'), { code: 'ERR_POOL_CLOSED' }));
      return;
    }
    const idle = this.#idle;
    while (idle.length > 0) {
      const connection = idle.pop() as UpstreamConnection;
      if (!connection.dead) {
        waiter.onConnection(connection);
        return;
      }
      this.#drop(connection);
    }
    const max = this.#options.maxConnections;
    if (max !== null && this.size >= max) {
      this.#waiters.push(waiter);
      return;
    }
    this.#connect(waiter);
  }

  /** The waiter gave up (its request was cancelled). */
  cancel(waiter: PoolWaiter): void {
    const index = this.#waiters.indexOf(waiter);
    if (index !== -1) this.#waiters.splice(index, 1);
  }

  /** A request is done with `connection`: kept for the next one when `reusable`, else closed. */
  release(connection: UpstreamConnection, reusable: boolean): void {
    connection.detach();
    if (!reusable || this.#closed || connection.dead) {
      connection.destroy();
      this.#drop(connection);
      this.#serveWaiter();
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.onConnection(connection);
      return;
    }
    connection.idleSince = performance.now();
    this.#idle.push(connection);
  }

  /** A connection closed: it is never handed out again. */
  evict(connection: UpstreamConnection): void {
    this.#drop(connection);
    this.#serveWaiter();
  }

  /** Close idle connections older than the keep-alive timeout. */
  sweep(now: number): void {
    const idle = this.#idle;
    const limit = this.#options.keepAliveTimeoutMs;
    while (idle.length > 0 && now - (idle[0]).idleSince > limit) {
      const connection = idle.shift() as UpstreamConnection;
      connection.destroy();
      this.#drop(connection);
    }
  }

  /** No new requests; idle connections close now, busy ones after their request (`destroy`: now). */
  close(destroy: boolean): void {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) {
      waiter.onConnectError(Object.assign(new Error('the connection pool was closed'), { code: 'ERR_POOL_CLOSED' }));
    }
    for (const connection of this.#idle.splice(0)) connection.destroy();
    if (destroy) for (const connection of this.#all) connection.destroy();
  }

  #drop(connection: UpstreamConnection): void {
    this.#all.delete(connection);
    const index = this.#idle.indexOf(connection);
    if (index !== -1) this.#idle.splice(index, 1);
  }

  #serveWaiter(): void {
    if (this.#closed || this.#waiters.length === 0) return;
    const max = this.#options.maxConnections;
    if (max !== null && this.size >= max) return;
    this.#connect(this.#waiters.shift() as PoolWaiter);
  }

  #connect(waiter: PoolWaiter): void {
    const { endpoint } = this;
    const options = this.#options;
    const { tls } = options;
    let connection: UpstreamConnection | undefined;
    const socket: Socket = tls === undefined
      ? netConnect({
        host: endpoint.address, port: endpoint.port, noDelay: true,
        onread: {
          buffer: READ_BUFFER,
          callback: (bytes: number, buffer: Uint8Array): boolean => {
            // Bytes before the connection is made: nobody asked for them.
            if (connection === undefined) socket.destroy();
            else connection.read(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
            return true;
          },
        },
      })
      : tls.connect(endpoint.address, endpoint.port, options.service, ALPN_HTTP1);
    this.#connecting += 1;
    let done = false;
    const finish = (err: Error | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('error', finish);
      this.#connecting -= 1;
      if (err !== undefined) {
        socket.destroy();
        waiter.onConnectError(err);
        this.#serveWaiter();
        return;
      }
      connection = new UpstreamConnection(socket, this, options.maxHeaderSize, tls !== undefined);
      this.#all.add(connection);
      if (this.#closed) {
        connection.destroy();
        waiter.onConnectError(Object.assign(new Error('the connection pool was closed'), { code: 'ERR_POOL_CLOSED' }));
        return;
      }
      waiter.onConnection(connection);
    };
    const timer = setTimeout(() => finish(Object.assign(
      new Error(`connect to ${formatHostPort({ host: endpoint.address, port: endpoint.port })} timed out after ${options.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })),
    options.connectTimeoutMs);
    socket.once('error', finish);
    socket.once(tls === undefined ? 'connect' : 'secureConnect', () => finish(undefined));
  }
}
