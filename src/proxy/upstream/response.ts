/**
 * An HTTP/1 upstream response as an {@link Exchange} receives it: the head at once, the
 * body as it arrives. Until someone reads `body`, the chunks that arrive are held — at most
 * a stream's high-water mark: beyond it the upstream socket is paused, as a full stream
 * would pause it, so a large body is never buffered whole.
 *
 * Most responses are small and arrive with their head (one socket read); for them
 * `wholeBody()` gives the bytes, so that the writer sends them at once and no Readable is
 * ever made. Anyone who reads `body` instead gets a Readable with the held chunks first and
 * the rest streamed (reading resumes the upstream socket; destroying it early aborts the
 * request).
 */
import { Readable } from 'node:stream';
import type { Endpoint } from '../../balancer/types.js';
import type { HeaderRecord } from '../http1/headers.js';
import type { ProxyResponse } from '../types.js';

export const BODY_HIGH_WATER_MARK = 64 * 1024;

/** What the response needs from its exchange: resume the upstream socket, abort the attempt. */
export interface ResponseSource {
  resume(): void;
  cancel(err: Error | null): void;
}

class ResponseBody extends Readable {
  readonly #source: ResponseSource;

  constructor(source: ResponseSource) {
    super({ highWaterMark: BODY_HIGH_WATER_MARK });
    this.#source = source;
  }

  override _read(): void {
    this.#source.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#source.cancel(err);
    callback(err);
  }
}

export class UpstreamResponse implements ProxyResponse {
  readonly status: number;
  readonly headers: HeaderRecord;
  readonly endpoint: Endpoint;
  readonly #source: ResponseSource;
  #stream: ResponseBody | undefined;
  /** Chunks that arrived before anyone read `body`. */
  #held: Buffer[] = [];
  #heldBytes = 0;
  #ended = false;
  #error: Error | undefined;

  constructor(status: number, headers: HeaderRecord, endpoint: Endpoint, source: ResponseSource) {
    this.status = status;
    this.headers = headers;
    this.endpoint = endpoint;
    this.#source = source;
  }

  get body(): Readable {
    this.#stream ??= this.#open();
    return this.#stream;
  }

  wholeBody(): readonly Buffer[] | undefined {
    return this.#stream === undefined && this.#ended ? this.#held : undefined;
  }

  /** A chunk from the upstream; false asks the exchange to pause the upstream socket. */
  push(chunk: Buffer): boolean {
    if (this.#stream !== undefined) return this.#stream.push(chunk);
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    return this.#heldBytes < BODY_HIGH_WATER_MARK;
  }

  /** The upstream sent the whole body. */
  end(): void {
    if (this.#stream !== undefined) this.#stream.push(null);
    else this.#ended = true;
  }

  /** The upstream broke off mid-body: the reader sees the error, not a short body. */
  fail(err: Error): void {
    if (this.#stream !== undefined) this.#stream.destroy(err);
    else this.#error ??= err;
  }

  #open(): ResponseBody {
    const stream = new ResponseBody(this.#source);
    for (const chunk of this.#held) stream.push(chunk);
    this.#held = [];
    if (this.#error !== undefined) stream.destroy(this.#error);
    else if (this.#ended) stream.push(null);
    return stream;
  }
}
