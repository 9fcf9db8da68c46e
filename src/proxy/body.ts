/**
 * Request bodies that can be sent again. The body streams from the client as the first
 * attempt reads it; up to `maxReplayBytes` of it is kept so that a retry can send it
 * again. A larger body is never buffered: it stops being replayable instead, and the
 * retry layer does not retry it.
 */
import type { Readable as ReadableType } from 'node:stream';
import { Readable } from 'node:stream';
import { ErrorCodes, TrellisError } from '../errors.js';
import type { RequestBody } from './types.js';

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
