/**
 * Request bodies that can be sent again. The body streams from the client as the first
 * attempt reads it; up to `maxReplayBytes` of it is kept so that a retry can send it
 * again. A larger body is never buffered: it stops being replayable instead, and the
 * retry layer does not retry it.
 */
import type { Readable as ReadableType } from 'node:stream';
import { Readable } from 'node:stream';
import { ErrorCodes, TrellisError } from '../errors.js';
import type { BodyReader, BodySink, RequestBody } from './types.js';

export const DEFAULT_REPLAY_BUFFER_BYTES = 64 * 1024;

/** The body of a request without one (GET, HEAD, Content-Length: 0): nothing to send, always replayable. */
export const NO_BODY: RequestBody = Object.freeze({ open: () => null, replayable: true });

class ReplayableBody implements RequestBody {
  readonly #source: AsyncIterator<Buffer>;
  readonly #maxBytes: number;
  /** Chunks read so far, while their total stays within maxBytes; null once it did not. */
  #kept: Buffer[] | null = [];
  #keptBytes = 0;
  /** Chunks read from the client so far. */
  #count = 0;
  #ended = false;
  #pending: Promise<Buffer | null> | undefined;

  constructor(source: ReadableType, maxBytes: number) {
    // destroyOnReturn: false — an attempt that gives up must not destroy the client's request.
    this.#source = source.iterator({ destroyOnReturn: false })[Symbol.asyncIterator]();
    this.#maxBytes = maxBytes;
  }

  get replayable(): boolean {
    return this.#kept !== null;
  }

  open(): ReadableType {
    return Readable.from(this.#chunks(), { objectMode: false, highWaterMark: 64 * 1024 });
  }

  /** Replays what was kept, then continues with the client's stream. */
  async *#chunks(): AsyncGenerator<Buffer> {
    let position = 0;
    for (;;) {
      const kept = this.#kept;
      if (kept !== null && position < kept.length) {
        yield kept[position++];
        continue;
      }
      if (position < this.#count) {
        throw new TrellisError(ErrorCodes.BODY_TOO_LARGE, `the request body is larger than ${this.#maxBytes} bytes and was partly sent already: it cannot be sent again`);
      }
      if (this.#ended) return;
      const chunk = await this.#pull();
      if (chunk === null) return;
      position += 1;
      yield chunk;
    }
  }

  /** The next chunk from the client (shared by every reader waiting for it), kept while it fits. */
  #pull(): Promise<Buffer | null> {
    this.#pending ??= this.#source.next().then((result) => {
      this.#pending = undefined;
      if (result.done === true) {
        this.#ended = true;
        return null;
      }
      const chunk = result.value;
      this.#count += 1;
      if (this.#kept !== null) {
        this.#keptBytes += chunk.length;
        if (this.#keptBytes <= this.#maxBytes) this.#kept.push(chunk);
        else this.#kept = null;
      }
      return chunk;
    });
    return this.#pending;
  }
}

/** The body of a request that has one: streamed, and replayable while at most `maxReplayBytes`. */
export function replayableBody(source: ReadableType, maxReplayBytes: number = DEFAULT_REPLAY_BUFFER_BYTES): RequestBody {
  return new ReplayableBody(source, maxReplayBytes);
}

/** What a {@link FedBody} asks of whoever feeds it (the client connection): stop and go on reading. */
export interface BodyFlow {
  pauseBody(): void;
  resumeBody(): void;
}

/** Chunks held but not yet taken by a reader beyond which the feeder is paused. */
const FED_HIGH_WATER_MARK = 64 * 1024;

/**
 * A request body fed chunk by chunk by its carrier (the raw-socket HTTP/1 connection: what
 * llhttp hands over, already de-chunked) — no Readable unless a consumer asks for one.
 * Chunks are kept while their total stays within `maxBytes`, so that a retry can send them
 * again; beyond that each chunk is dropped once the attempt has taken it, and the body is no
 * longer replayable. While more than {@link FED_HIGH_WATER_MARK} bytes wait for a reader
 * (or the reader said stop) the feeder is paused: backpressure reaches the client's socket.
 */
export class FedBody implements RequestBody, BodyReader {
  readonly #maxBytes: number;
  readonly #flow: BodyFlow;
  /** Chunks not dropped yet; chunks[0] is chunk number `#base` of the body. */
  #chunks: Buffer[] = [];
  #base = 0;
  #bytes = 0;
  #replayable = true;
  #ended = false;
  #error: Error | undefined;
  /** The current attempt's sink and how far it got (a chunk number). */
  #sink: BodySink | undefined;
  #position = 0;
  #blocked = false;
  #paused = false;
  #pending = 0;

  constructor(maxBytes: number, flow: BodyFlow) {
    this.#maxBytes = maxBytes;
    this.#flow = flow;
  }

  get replayable(): boolean {
    return this.#replayable;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** A chunk from the client. */
  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#pending += chunk.length;
    if (this.#replayable) {
      this.#bytes += chunk.length;
      if (this.#bytes > this.#maxBytes) this.#replayable = false;
    }
    this.#deliver();
    if (!this.#paused && (this.#blocked || this.#pending > FED_HIGH_WATER_MARK)) {
      this.#paused = true;
      this.#flow.pauseBody();
    }
  }

  /** The client sent the whole body. */
  end(): void {
    this.#ended = true;
    this.#deliver();
  }

  /** The body broke off (the client went away, or sent a malformed chunk). */
  fail(err: Error): void {
    if (this.#ended || this.#error !== undefined) return;
    this.#error = err;
    const sink = this.#sink;
    this.#sink = undefined;
    sink?.fail(err);
  }

  whole(): readonly Buffer[] | undefined {
    return this.#ended && this.#replayable && this.#sink === undefined ? this.#chunks : undefined;
  }

  stream(sink: BodySink): BodyReader {
    const previous = this.#sink;
    if (previous !== undefined && previous !== sink) previous.fail(new Error('the request body was taken by another attempt'));
    this.#sink = sink;
    this.#position = 0;
    this.#blocked = false;
    this.#pending = 0;
    for (const chunk of this.#chunks) this.#pending += chunk.length;
    if (this.#base > 0) {
      this.#sink = undefined;
      sink.fail(new TrellisError(ErrorCodes.BODY_TOO_LARGE, `the request body is larger than ${this.#maxBytes} bytes and was partly sent already: it cannot be sent again`));
      return this;
    }
    if (this.#error !== undefined) {
      this.#sink = undefined;
      sink.fail(this.#error);
      return this;
    }
    this.#deliver();
    return this;
  }

  resume(): void {
    if (!this.#blocked) return;
    this.#blocked = false;
    this.#deliver();
  }

  close(): void {
    this.#sink = undefined;
    this.#blocked = false;
    this.#flowOn();
  }

  open(): ReadableType {
    const readable = new Readable({
      highWaterMark: FED_HIGH_WATER_MARK,
      read: () => this.resume(),
      destroy: (err, callback) => {
        if (this.#sink === sink) this.close();
        callback(err);
      },
    });
    const sink: BodySink = {
      write: (chunk) => readable.push(chunk),
      end: () => readable.push(null),
      fail: (err) => readable.destroy(err),
    };
    this.stream(sink);
    return readable;
  }

  #deliver(): void {
    const sink = this.#sink;
    if (sink === undefined) return;
    while (!this.#blocked && this.#sink === sink) {
      const index = this.#position - this.#base;
      if (index >= this.#chunks.length) break;
      const chunk = this.#chunks[index];
      this.#position += 1;
      this.#pending -= chunk.length;
      if (!this.#replayable) {
        // Not kept for a replay: dropped once taken.
        this.#chunks.shift();
        this.#base += 1;
      }
      if (!sink.write(chunk)) this.#blocked = true;
    }
    if (this.#sink !== sink) return;
    if (this.#ended && this.#position - this.#base >= this.#chunks.length) {
      this.#sink = undefined;
      sink.end();
      return;
    }
    this.#flowOn();
  }

  #flowOn(): void {
    if (this.#paused && !this.#blocked && this.#pending <= FED_HIGH_WATER_MARK) {
      this.#paused = false;
      this.#flow.resumeBody();
    }
  }
}
