/**
 * One HTTP/1 request to one endpoint, as an undici dispatch handler: the outcome settles
 * when the response head arrives (or the attempt fails); the response body goes to an
 * {@link UpstreamResponse} (./response.ts), held while small or streamed with backpressure
 * (undici pauses the socket until it is read). Nothing is buffered beyond a stream's
 * high-water mark.
 */
import type { Dispatcher } from 'undici';
import type { Endpoint } from '../../balancer/types.js';
import type { ErrorCode } from '../../errors.js';
import { classify } from '../classify.js';
import { failed } from '../failure.js';
import { responseHeaders } from '../http1/headers.js';
import type { Outcome, ProxyRequest } from '../types.js';
import { abortedFailure, upstreamFailure, type FailureContext } from './errors.js';
import { UpstreamResponse, type ResponseSource } from './response.js';

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

export class Exchange implements Dispatcher.DispatchHandlers, ResponseSource {
  readonly #request: ProxyRequest;
  readonly #endpoint: Endpoint;
  readonly #unreachable: ErrorCode;
  readonly #settle: (outcome: Outcome) => void;
  #abort: ((err?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  #response: UpstreamResponse | undefined;
  #sent = false;
  #settled = false;
  #finished = false;

  constructor(request: ProxyRequest, endpoint: Endpoint, unreachable: ErrorCode, settle: (outcome: Outcome) => void) {
    this.#request = request;
    this.#endpoint = endpoint;
    this.#unreachable = unreachable;
    this.#settle = settle;
    request.signal.addEventListener('abort', this);
  }

  /** The request's signal aborted (client gone or a deadline): stop the attempt. */
  handleEvent(): void {
    const { reason } = this.#request.signal;
    if (this.#abort !== undefined) {
      this.#abort(asError(reason));
    } else if (!this.#settled) {
      // Still waiting for a connection: answer now; onConnect aborts the attempt if it ever comes.
      this.#resolve(failed(abortedFailure(reason, this.#context())));
    }
  }

  /** The response body is read again: resume the upstream socket. */
  resume(): void {
    this.#resume?.();
  }

  /** Abort the attempt unless it already ended (the response body was abandoned). */
  cancel(err: Error | null): void {
    if (!this.#finished) this.#abort?.(err ?? new Error('the response body was discarded before it ended'));
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#sent = true;
    this.#abort = abort;
    if (this.#request.signal.aborted) abort(asError(this.#request.signal.reason));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: informational, the real head follows
    this.#resume = resume;
    const response = new UpstreamResponse(statusCode, responseHeaders(rawHeaders), this.#endpoint, this);
    this.#response = response;
    this.#resolve({ ok: true, classification: classify(statusCode), response });
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.#response?.push(chunk) ?? true;
  }

  onComplete(): void {
    this.#finish();
    this.#response?.end();
  }

  onError(err: Error): void {
    this.#finish();
    if (!this.#settled) {
      const context = this.#context();
      this.#resolve(failed(this.#request.signal.aborted ? abortedFailure(this.#request.signal.reason, context) : upstreamFailure(err, context)));
    } else {
      // The head was forwarded already: the client sees the body end abruptly.
      this.#response?.fail(err);
    }
  }

  #finish(): void {
    this.#finished = true;
    this.#request.signal.removeEventListener('abort', this);
  }

  #resolve(outcome: Outcome): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#settle(outcome);
  }

  #context(): FailureContext {
    return { service: this.#request.target.service, endpoint: this.#endpoint, sent: this.#sent, unreachable: this.#unreachable };
  }
}
