/**
 * A resumable stream of store-backed events over HTTP, shared by every watch route.
 * Server-sent events by default (the event id is the revision, so EventSource's
 * Last-Event-ID resumes by itself); NDJSON with ?format=ndjson or Accept: application/x-ndjson.
 * A comment / blank line keeps idle streams alive; a client that falls too far behind is
 * cut off with WATCHER_TOO_SLOW and told where to resume.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { Watcher } from '../../store/types.js';

export interface EventStreamOptions {
  /** A comment line is sent this often so proxies and clients see the stream is alive. */
  keepAliveMs?: number;
  /** A client that falls this far behind is cut off and told to resume from its last revision. */
  maxBufferedBytes?: number;
}

/** What every streamed event has: its revision (the SSE id) and a type (the SSE event name). */
export interface StreamedEvent {
  readonly revision: number;
  readonly type: string;
}

export interface EventSink<E> {
  onEvent(event: E): void;
  onError(error: Error): void;
}

interface StreamQuery { after?: string; format?: string }

type Format = 'sse' | 'ndjson';

function parseRevision(raw: string | undefined, field: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,15}$/.test(raw)) {
    throw new TrellisError(ErrorCodes.INVALID_REVISION, `${field} must be a revision: a whole number ≥ 0 (got ${JSON.stringify(raw).slice(0, 40)})`, { field });
  }
  return Number(raw);
}

/** Serialized once per event and format, however many watchers write it. */
const frames = { sse: new WeakMap<StreamedEvent, string>(), ndjson: new WeakMap<StreamedEvent, string>() };

function frame(format: Format, event: StreamedEvent): string {
  const cached = frames[format].get(event);
  if (cached !== undefined) return cached;
  const json = JSON.stringify(event);
  const text = format === 'sse' ? `id: ${event.revision}\nevent: ${event.type}\ndata: ${json}\n\n` : `${json}\n`;
  frames[format].set(event, text);
  return text;
}

function errorFrame(format: Format, error: TrellisError): string {
  const json = JSON.stringify(error.toJSON());
  return format === 'sse' ? `event: error\ndata: ${json}\n\n` : `${json}\n`;
}

/**
 * Answer `request` with a stream of the events `start` delivers after the revision the
 * client asked for (`after`, or Last-Event-ID, or `currentRevision()` = from now).
 */
export async function streamEvents<E extends StreamedEvent>(
  request: FastifyRequest<{ Querystring: StreamQuery }>,
  reply: FastifyReply,
  options: EventStreamOptions,
  currentRevision: () => Promise<number>,
  start: (afterRevision: number, sink: EventSink<E>) => Promise<Watcher>,
): Promise<void> {
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  const { query } = request;
  if (query.format !== undefined && query.format !== 'ndjson' && query.format !== 'sse') {
    throw new TrellisError(ErrorCodes.VALIDATION, 'format must be "sse" or "ndjson"', { field: 'format' });
  }
  const format: Format = query.format === 'ndjson' || (query.format === undefined && request.headers.accept?.includes('application/x-ndjson'))
    ? 'ndjson' : 'sse';
  const lastEventId = request.headers['last-event-id'];
  const after = parseRevision(query.after, 'after')
    ?? parseRevision(typeof lastEventId === 'string' ? lastEventId : undefined, 'Last-Event-ID')
    ?? await currentRevision();

  // The watch starts first (so a compacted or future revision is answered with its HTTP
  // status), then the head goes out at once — before any event: a client waiting for headers
  // never waits for the first event or a keep-alive. Frames queue in memory and are written as
  // the socket drains, so a replay of any length reaches a client that reads; only *live*
  // events count against maxBufferedBytes (the replay is bounded by the history it comes from).
  let res: ServerResponse | undefined;
  const queue: string[] = [];
  const liveSizes: number[] = [];
  const queuedRevisions: number[] = [];
  let queueIndex = 0;
  /** Bytes of live events queued and not yet handed to the socket. */
  let liveQueued = 0;
  let blocked = false;
  /** The revision of the last event handed to the socket: where a cut-off client resumes. */
  let lastRevision = after;
  /** Events at or below this revision are the replay (the store's revision when the watch started). */
  const replayThrough = await currentRevision();
  let closed = false;
  let watcher: Watcher | undefined;
  let keepAlive: NodeJS.Timeout | undefined;
  /** Why the watch ended before the head was written. */
  let earlyError: TrellisError | undefined;
  const end = (error?: TrellisError): void => {
    if (closed) return;
    closed = true;
    clearInterval(keepAlive);
    watcher?.close();
    queue.length = 0;
    if (res === undefined) earlyError = error;
    else if (!res.destroyed) {
      if (error !== undefined) res.write(errorFrame(format, error));
      res.end();
    }
  };
  const pump = (): void => {
    if (res === undefined) return;
    while (!closed && queueIndex < queue.length) {
      const text = queue[queueIndex];
      liveQueued -= liveSizes[queueIndex] ?? 0;
      lastRevision = queuedRevisions[queueIndex] ?? lastRevision;
      queueIndex += 1;
      if (!res.write(text)) {
        blocked = true;
        break;
      }
    }
    if (queueIndex >= queue.length) {
      queue.length = 0;
      liveSizes.length = 0;
      queuedRevisions.length = 0;
      queueIndex = 0;
    }
  };
  const write = (event: E): void => {
    if (closed) return;
    const text = frame(format, event);
    if (res !== undefined && !blocked && queue.length === 0) {
      lastRevision = event.revision;
      if (!res.write(text)) blocked = true;
      return;
    }
    const live = event.revision > replayThrough ? Buffer.byteLength(text) : 0;
    queue.push(text);
    liveSizes.push(live);
    queuedRevisions.push(event.revision);
    liveQueued += live;
    if (liveQueued > maxBuffered) {
      // Resume after the last revision sent whole: if the first unsent event shares its
      // revision (a transaction of several keys), from the one before (a repeat, not a gap).
      const resume = queuedRevisions[queueIndex] === lastRevision ? lastRevision - 1 : lastRevision;
      end(new TrellisError(ErrorCodes.WATCHER_TOO_SLOW, `watcher too slow: it fell more than ${maxBuffered} bytes behind; reconnect with after=${resume}`, { details: { lastRevision: resume } }));
    }
  };
  watcher = await start(after, {
    onEvent: write,
    onError: (err) => end(err instanceof TrellisError ? err : new TrellisError(ErrorCodes.STORE_UNAVAILABLE, err.message)),
  });

  reply.hijack();
  const stream: ServerResponse = reply.raw;
  res = stream;
  stream.writeHead(200, {
    'content-type': format === 'sse' ? 'text/event-stream; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-trellis-revision': String(after),
    'x-accel-buffering': 'no',
  });
  if (format === 'sse') stream.write(`: watching from revision ${after}\n\n`);
  else stream.flushHeaders();
  stream.on('drain', () => {
    blocked = false;
    pump();
  });
  stream.on('close', () => end());
  keepAlive = setInterval(() => {
    if (!closed && !blocked && queue.length === 0) stream.write(format === 'sse' ? ': keep-alive\n\n' : '\n');
  }, keepAliveMs);
  keepAlive.unref();
  if (closed) {
    // The watch ended before the head went out: send why, and end.
    if (earlyError !== undefined) stream.write(errorFrame(format, earlyError));
    stream.end();
    return;
  }
  pump();
}
