/**
 * GET /v1/watch — a stream of registry changes that resumes from a revision.
 * Server-sent events by default (the event id is the revision, so EventSource's
 * Last-Event-ID resumes by itself); NDJSON with ?format=ndjson or Accept: application/x-ndjson.
 */
import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { Registry } from '../../registry/registry.js';
import type { RegistryEvent } from '../../registry/types.js';

export interface WatchRouteOptions {
  /** A comment line is sent this often so proxies and clients see the stream is alive. */
  keepAliveMs?: number;
  /** A client that falls this far behind is cut off and told to resume from its last revision. */
  maxBufferedBytes?: number;
}

interface WatchQuery { service?: string; after?: string; format?: string }

function parseRevision(raw: string | undefined, field: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,15}$/.test(raw)) {
    throw new TrellisError(ErrorCodes.INVALID_REVISION, `${field} must be a revision: a whole number ≥ 0 (got ${JSON.stringify(raw).slice(0, 40)})`, { field });
  }
  return Number(raw);
}

type Format = 'sse' | 'ndjson';

/** Serialized once per event and format, however many watchers write it. */
const frames = { sse: new WeakMap<RegistryEvent, string>(), ndjson: new WeakMap<RegistryEvent, string>() };

function frame(format: Format, event: RegistryEvent): string {
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

export function watchRoutes(app: FastifyInstance, registry: Registry, options: WatchRouteOptions = {}): void {
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024;

  app.get<{ Querystring: WatchQuery }>('/v1/watch', async (request, reply) => {
    const { query } = request;
    const format: Format = query.format === 'ndjson' || (query.format === undefined && request.headers.accept?.includes('application/x-ndjson'))
      ? 'ndjson' : 'sse';
    if (query.format !== undefined && query.format !== 'ndjson' && query.format !== 'sse') {
      throw new TrellisError(ErrorCodes.VALIDATION, 'format must be "sse" or "ndjson"', { field: 'format' });
    }
    const lastEventId = request.headers['last-event-id'];
    const after = parseRevision(query.after, 'after')
      ?? parseRevision(typeof lastEventId === 'string' ? lastEventId : undefined, 'Last-Event-ID')
      ?? await registry.currentRevision();

    // Events replayed while the watch starts are held until the response head is written.
    const pending: RegistryEvent[] = [];
    let res: ServerResponse | undefined;
    let lastRevision = after;
    let closed = false;
    const end = (error?: TrellisError): void => {
      if (closed) return;
      closed = true;
      clearInterval(keepAlive);
      watcher?.close();
      if (res !== undefined && !res.destroyed) {
        if (error !== undefined) res.write(errorFrame(format, error));
        res.end();
      }
    };
    const write = (event: RegistryEvent): void => {
      if (res === undefined) { pending.push(event); return; }
      if (closed) return;
      lastRevision = event.revision;
      res.write(frame(format, event));
      if (res.writableLength > maxBuffered) {
        end(new TrellisError(ErrorCodes.WATCHER_TOO_SLOW, `watcher too slow: it fell more than ${maxBuffered} bytes behind; reconnect with after=${lastRevision}`, { details: { lastRevision } }));
      }
    };
    const watcher = await registry.watch({ afterRevision: after, ...(query.service === undefined ? {} : { service: query.service }) }, {
      onEvent: write,
      onError: (err) => end(err instanceof TrellisError ? err : new TrellisError(ErrorCodes.STORE_UNAVAILABLE, err.message)),
    });
    const keepAlive = setInterval(() => {
      if (res !== undefined && !closed) res.write(format === 'sse' ? ': keep-alive\n\n' : '\n');
    }, keepAliveMs);
    keepAlive.unref();

    reply.hijack();
    res = reply.raw;
    res.writeHead(200, {
      'content-type': format === 'sse' ? 'text/event-stream; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-trellis-revision': String(after),
      'x-accel-buffering': 'no',
    });
    if (format === 'sse') res.write(`: watching from revision ${after}\n\n`);
    res.on('close', () => end());
    for (const event of pending.splice(0)) write(event);
  });
}
