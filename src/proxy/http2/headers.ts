/**
 * Header handling at the HTTP/2 edges. HTTP/2 has no hop-by-hop headers of its own, but
 * forbids HTTP/1's connection-specific ones (RFC 9113 §8.2.2) — Node refuses to send them —
 * and carries the method, path and authority as pseudo-headers. Requests get
 * `x-forwarded-for` and an `x-request-id`, as at the HTTP/1 edge; `te: trailers` (which
 * gRPC requires) passes.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { appendForwardedFor, type HeaderRecord } from '../http1/headers.js';

/** Never sent on an HTTP/2 stream (`te` only as `trailers`); `host` becomes `:authority`. */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'host', '__proto__',
]);

export interface Http2RequestHead {
  readonly headers: HeaderRecord;
  readonly requestId: string;
  readonly method: string | undefined;
  readonly path: string | undefined;
  /** `:authority`, else the Host header. */
  readonly authority: string | undefined;
}

/** Regular headers from a received header block (pseudo-headers and connection-specific ones left out). */
export function regularHeaders(received: IncomingHttpHeaders): HeaderRecord {
  const headers: HeaderRecord = {};
  for (const name of Object.keys(received)) {
    if (name.charCodeAt(0) === 58 /* : */ || CONNECTION_SPECIFIC.has(name)) continue;
    const value = received[name];
    if (value !== undefined) headers[name] = value;
  }
  return headers;
}

export function http2RequestHead(received: IncomingHttpHeaders, clientAddress: string | undefined): Http2RequestHead {
  const headers = regularHeaders(received);
  const te = headers['te'];
  if (te !== undefined && te !== 'trailers') delete headers['te'];
  const authority = received[':authority'] ?? received.host;
  // Carried as `host`, as at the HTTP/1 edge: the HTTP/2 upstream turns it back into `:authority`.
  if (authority !== undefined) headers['host'] = authority;
  let requestId = headers['x-request-id'];
  if (Array.isArray(requestId)) requestId = headers['x-request-id'] = requestId[0] ?? randomUUID();
  if (requestId === undefined) requestId = headers['x-request-id'] = randomUUID();
  if (clientAddress !== undefined) appendForwardedFor(headers, clientAddress);
  return { headers, requestId, method: received[':method'], path: received[':path'], authority };
}

/** Headers as they may be sent on an HTTP/2 stream (request, response or trailers). */
export function http2Headers(headers: Readonly<Record<string, string | string[]>>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    if (CONNECTION_SPECIFIC.has(name) || name.charCodeAt(0) === 58 /* : */) continue;
    if (name === 'te' && headers[name] !== 'trailers') continue;
    out[name] = headers[name];
  }
  return out;
}

/** A gRPC request (`content-type: application/grpc`, `application/grpc+proto`, …): its failures are answered as gRPC statuses. */
export function isGrpc(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.startsWith('application/grpc');
}
