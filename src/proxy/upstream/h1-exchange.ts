/**
 * One HTTP/1.1 request to one endpoint on a pooled raw connection (./pool.ts): the head
 * written as one string, the body sent as the client sends it (its Content-Length kept,
 * else chunked; a whole small body at once), the response head settling the outcome and
 * its body going to an {@link UpstreamResponse} — held while small (the whole-body fast
 * case), streamed with backpressure otherwise (the connection is paused until it is read).
 *
 * A state machine: the exchange is the pool waiter, the connection's user, the body's sink,
 * the response's source and the signal's listener — no closure or promise of its own.
 * A response body that stalls (no byte for the body idle timeout while nobody held it back)
 * fails with UPSTREAM_TIMEOUT, so that it does not hold a circuit-breaker slot for minutes.
 */
import type { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { Endpoint } from '../../balancer/types.js';
import { ErrorCodes, TrellisError, type ErrorCode } from '../../errors.js';
import { classify } from '../classify.js';
import { failed } from '../failure.js';
import { rawResponseHeaders } from '../http1/headers.js';
import { HEAD_CONTINUE, HEAD_SKIP_BODY } from '../http1/llhttp.js';
import { byteLength, headerLines, LAST_CHUNK, writeChunk } from '../http1/write.js';
import type { BodyReader, BodySink, Outcome, ProxyRequest } from '../types.js';
import { abortedFailure, describeEndpoint, upstreamFailure, type FailureContext } from './errors.js';
import type { ConnectionUser, EndpointPool, PoolWaiter, UpstreamConnection } from './pool.js';
import { UpstreamResponse, type ResponseSource } from './response.js';

/** What the exchanges of one upstream share. */
export interface ExchangeContext {
  readonly unreachable: ErrorCode;
  /** Exchanges whose response body is streaming: the upstream's sweep checks their idle timeout. */
  readonly streaming: Set<H1Exchange>;
  readonly bodyIdleTimeoutMs: number;
}

export class H1Exchange implements PoolWaiter, ConnectionUser, BodySink, ResponseSource {
  readonly #request: ProxyRequest;
  readonly #endpoint: Endpoint;
  readonly #pool: EndpointPool;
  readonly #context: ExchangeContext;
  readonly #resolve: (outcome: Outcome) => void;
  #connection: UpstreamConnection | undefined;
  #response: UpstreamResponse | undefined;
  #reader: BodyReader | undefined;
  #readable: Readable | undefined;
  #chunked = false;
  #bodySent = false;
  #settled = false;
  #finished = false;
  #keepAlive = false;
  #paused = false;
  #lastBodyAt = 0;

  constructor(request: ProxyRequest, endpoint: Endpoint, pool: EndpointPool, context: ExchangeContext, resolve: (outcome: Outcome) => void) {
    this.#request = request;
    this.#endpoint = endpoint;
    this.#pool = pool;
    this.#context = context;
    this.#resolve = resolve;
  }

  start(): void {
    const { signal } = this.#request;
    if (signal.aborted) {
      this.#settle(failed(abortedFailure(signal.reason, this.#failureContext(false))));
      return;
    }
    signal.addEventListener('abort', this);
    this.#pool.acquire(this);
  }

  // ---- the pool ---------------------------------------------------------------------------

  onConnection(connection: UpstreamConnection): void {
    if (this.#settled) {
      this.#pool.release(connection, true); // cancelled while it waited
      return;
    }
    this.#connection = connection;
    connection.attach(this);
    this.#send(connection);
  }

  onConnectError(err: Error): void {
    this.#done();
    this.#settle(failed(upstreamFailure(err, this.#failureContext(false))));
  }

  // ---- the request ------------------------------------------------------------------------

  #send(connection: UpstreamConnection): void {
    const request = this.#request;
    const { headers } = request;
    const { body } = request;
    const whole = body.whole?.();
    let framing = '';
    const known = headers['content-length'] !== undefined;
    let readable: Readable | null = null;
    if (whole !== undefined) {
      if (!known && whole.length > 0) framing = `content-length: ${byteLength(whole)}\r\n`;
    } else if (body.stream === undefined) {
      readable = body.open();
      if (readable !== null && !known) this.#chunked = true;
    } else if (!known) {
      this.#chunked = true;
    }
    if (this.#chunked) framing = 'transfer-encoding: chunked\r\n';
    const host = headers['host'] === undefined ? `host: ${this.#endpoint.address}:${this.#endpoint.port}\r\n` : '';
    const head = `${request.method} ${request.path} HTTP/1.1\r\n${host}${headerLines(headers)}${framing}\r\n`;
    const { socket } = connection;
    if (whole !== undefined) {
      if (whole.length === 0) {
        socket.write(head, 'latin1');
      } else {
        socket.cork();
        socket.write(head, 'latin1');
        for (let i = 0; i < whole.length; i++) socket.write(whole[i]);
        socket.uncork();
      }
      this.#bodySent = true;
      return;
    }
    socket.write(head, 'latin1');
    if (readable !== null) {
      this.#readable = readable;
      readable.on('data', (chunk: Buffer) => {
        if (!this.write(chunk)) readable.pause();
      });
      readable.once('end', () => this.end());
      readable.once('error', (err: Error) => this.fail(err));
      return;
    }
    if (body.stream !== undefined) this.#reader = body.stream(this);
    else this.#bodySent = true;
  }

  /** BodySink: a chunk of the request body. */
  write(chunk: Buffer): boolean {
    const connection = this.#connection;
    if (connection === undefined || this.#finished) return true;
    return this.#chunked ? writeChunk(connection.socket, chunk) : connection.socket.write(chunk);
  }

  /** BodySink: the request body was all sent. */
  end(): void {
    this.#reader = undefined;
    this.#readable = undefined;
    const connection = this.#connection;
    if (connection === undefined) return;
    if (this.#chunked) connection.socket.write(LAST_CHUNK, 'latin1');
    this.#bodySent = true;
  }

  /** BodySink: the request body broke off (the client, or a replay that cannot be): the attempt ends with that error. */
  fail(err: Error): void {
    this.#reader = undefined;
    this.#readable = undefined;
    this.#abandon(err);
  }

  onDrain(): void {
    this.#reader?.resume();
    this.#readable?.resume();
  }

  // ---- the response -----------------------------------------------------------------------

  onHead(status: number, rawHeaders: string[], keepAlive: boolean): number {
    if (status === 101) {
      // Switching protocols for a request that asked for no upgrade: nothing can follow on this connection.
      queueMicrotask(() => this.#abandon(Object.assign(new Error('the endpoint answered 101 Switching Protocols to a request that asked for no upgrade'), { code: 'ERR_UNEXPECTED_101' })));
      return HEAD_CONTINUE;
    }
    if (status < 200) return HEAD_CONTINUE; // 1xx: informational, the real head follows
    this.#keepAlive = keepAlive;
    const response = new UpstreamResponse(status, rawResponseHeaders(rawHeaders, false), this.#endpoint, this);
    this.#response = response;
    this.#lastBodyAt = performance.now();
    this.#context.streaming.add(this);
    this.#settle({ ok: true, classification: classify(status), response });
    return this.#request.method === 'HEAD' ? HEAD_SKIP_BODY : HEAD_CONTINUE;
  }

  onBody(chunk: Buffer): void {
    this.#lastBodyAt = performance.now();
    const response = this.#response;
    if (response !== undefined && !response.push(chunk) && !this.#paused) {
      this.#paused = true;
      this.#connection?.socket.pause();
    }
  }

  onComplete(): void {
    if (this.#response === undefined) return; // a 1xx
    const connection = this.#connection;
    this.#finished = true;
    this.#done();
    this.#connection = undefined;
    // A request body still being sent (the endpoint answered early): that connection cannot carry another request.
    if (!this.#bodySent) this.#stopBody();
    if (connection !== undefined) {
      if (this.#paused) connection.socket.resume();
      this.#pool.release(connection, this.#keepAlive && this.#bodySent);
    }
    this.#response.end();
  }

  onBroken(err: Error): void {
    this.#connection = undefined;
    this.#stopBody();
    if (this.#finished) return;
    this.#finished = true;
    this.#done();
    const { signal } = this.#request;
    if (!this.#settled) {
      const context = this.#failureContext(true);
      this.#settle(failed(signal.aborted ? abortedFailure(signal.reason, context) : upstreamFailure(err, context)));
    } else {
      // The head was forwarded already: the client sees the body end abruptly.
      this.#response?.fail(err);
    }
  }

  /** ResponseSource: the body is read again. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#lastBodyAt = performance.now();
    this.#connection?.socket.resume();
  }

  /** ResponseSource: the body was abandoned before it ended. */
  cancel(err: Error | null): void {
    if (!this.#finished) this.#abandon(err ?? new Error('the response body was discarded before it ended'));
  }

  /** The request's signal aborted (client gone or a deadline). */
  handleEvent(): void {
    if (this.#finished || (this.#settled && this.#response === undefined)) return;
    const { reason } = this.#request.signal;
    if (this.#connection === undefined) {
      // Still waiting for a connection: answer now; the connection, if it comes, goes back to the pool.
      this.#pool.cancel(this);
      this.#done();
      this.#settle(failed(abortedFailure(reason, this.#failureContext(false))));
      return;
    }
    this.#abandon(reason instanceof Error ? reason : new Error(String(reason)));
  }

  /** The upstream's sweep: a response body that stalled fails. */
  checkIdle(now: number): void {
    if (this.#paused || this.#finished || now - this.#lastBodyAt <= this.#context.bodyIdleTimeoutMs) return;
    this.#abandon(new TrellisError(ErrorCodes.UPSTREAM_TIMEOUT,
      `${describeEndpoint(this.#request.target.service, this.#endpoint)} sent no byte of its response body for ${this.#context.bodyIdleTimeoutMs} ms`));
  }

  /** End the attempt with `err`: the connection is closed (it is mid-message). */
  #abandon(err: Error): void {
    const connection = this.#connection;
    if (connection === undefined) return;
    connection.detach();
    connection.destroy();
    this.onBroken(err);
  }

  #stopBody(): void {
    this.#reader?.close();
    this.#reader = undefined;
    this.#readable?.destroy();
    this.#readable = undefined;
  }

  #done(): void {
    this.#request.signal.removeEventListener('abort', this);
    this.#context.streaming.delete(this);
  }

  #settle(outcome: Outcome): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve(outcome);
  }

  #failureContext(sent: boolean): FailureContext {
    return { service: this.#request.target.service, endpoint: this.#endpoint, sent, unreachable: this.#context.unreachable };
  }
}
