/**
 * An undici dispatch (origin, path, method, headers, body) as the data path's ProxyRequest
 * pieces: the service is the origin's host name (`http://my-service/` → my-service), header
 * names lower-case with hop-by-hop headers dropped, the body replayable for retries while
 * small (the sidecar's own RequestBody kinds).
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ErrorCodes, TrellisError } from '../errors.js';
import { NO_BODY, replayableBody } from '../proxy/body.js';
import type { RequestBody } from '../proxy/types.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host']);

/** The service an origin names: its host name. */
export function serviceOf(origin: Dispatcher.DispatchOptions['origin']): string {
  if (origin === undefined) throw new TrellisError(ErrorCodes.NO_ROUTE, 'a request through the mesh client needs an origin such as http://my-service');
  return (typeof origin === 'string' ? new URL(origin) : origin).hostname;
}

export function headerRecord(headers: Dispatcher.DispatchOptions['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const add = (name: string, value: string | string[] | undefined): void => {
    const key = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(key)) return;
    const previous = out[key];
    out[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), ...(Array.isArray(value) ? value : [value])];
  };
  if (headers === null || headers === undefined) return out;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) add(String(headers[i]), String(headers[i + 1]));
    return out;
  }
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function' && !('length' in headers)) {
    for (const [name, value] of headers as Iterable<[string, string | string[] | undefined]>) add(name, value);
    return out;
  }
  for (const [name, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) add(name, value);
  return out;
}

export function requestId(headers: Readonly<Record<string, string | string[]>>): string {
  const given = headers['x-request-id'];
  return typeof given === 'string' && given !== '' ? given : randomUUID();
}

export function requestBody(body: Dispatcher.DispatchOptions['body'], replayBytes: number): RequestBody {
  if (body === null || body === undefined) return NO_BODY;
  if (typeof body === 'string' || body instanceof Uint8Array) {
    const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    if (bytes.length === 0) return NO_BODY;
    const chunks = Object.freeze([bytes]);
    return Object.freeze({ open: () => Readable.from(chunks), replayable: true, whole: () => chunks });
  }
  const stream = body instanceof Readable ? body : Readable.from(body as Iterable<Buffer> | AsyncIterable<Buffer>);
  return replayableBody(stream, replayBytes);
}
