/**
 * Header rewriting at the HTTP/1 edge: hop-by-hop headers (RFC 9110 §7.6.1, and any
 * named in `Connection`) never cross the proxy; requests get `x-forwarded-for` and an
 * `x-request-id`. Names are lower-cased; values are passed through byte for byte
 * (latin1, as Node writes them).
 */
import { requestId as newRequestId } from '../request-id.js';

export type HeaderRecord = Record<string, string | string[]>;

/**
 * Never forwarded. `expect` is answered by Node's server itself (100-continue);
 * `__proto__` cannot be a key of a plain object (records stay plain objects: V8 keeps
 * those fast, unlike null-prototype dictionaries).
 */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'http2-settings', '__proto__',
]);

export interface RequestHead {
  /** Lower-case names, hop-by-hop removed, `x-forwarded-for` and `x-request-id` set. */
  readonly headers: HeaderRecord;
  readonly requestId: string;
  /** The Host header as received (not yet the authority of an absolute-form target). */
  readonly host: string | undefined;
  /** How many Host headers came: more than one is a malformed request (RFC 9112 §3.2). */
  readonly hostCount: number;
  /** The request has a body (a non-zero Content-Length, or Transfer-Encoding). */
  readonly hasBody: boolean;
}

function append(headers: HeaderRecord, name: string, value: string): void {
  const existing = headers[name];
  if (typeof existing === 'string') headers[name] = [existing, value];
  else if (Array.isArray(existing)) existing.push(value);
  else headers[name] = value; // absent, or a name like `constructor` that only the prototype has
}

/** Extra hop-by-hop names listed in `Connection` (beyond keep-alive / close), or undefined. */
function connectionListed(raw: readonly string[]): Set<string> | undefined {
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i]).length !== 10 || (raw[i]).toLowerCase() !== 'connection') continue;
    for (const token of (raw[i + 1]).split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '' && name !== 'close' && name !== 'keep-alive') (listed ??= new Set()).add(name);
    }
  }
  return listed;
}

/**
 * The headers to forward for a request, from Node's `rawHeaders` ([name, value, …]).
 * `clientAddress` is appended to `x-forwarded-for`.
 */
export function requestHead(raw: readonly string[], clientAddress: string | undefined): RequestHead {
  const listed = connectionListed(raw);
  const headers: HeaderRecord = {};
  let hasBody = false;
  let requestId: string | undefined;
  let host: string | undefined;
  let hostCount = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i]).toLowerCase();
    const value = raw[i + 1];
    if (HOP_BY_HOP.has(name) || listed?.has(name) === true) {
      if (name === 'transfer-encoding') hasBody = true;
      continue;
    }
    switch (name) {
      case 'content-length':
        if (value !== '0') hasBody = true;
        break;
      case 'host':
        host ??= value;
        hostCount += 1;
        break;
      case 'x-request-id':
        if (requestId !== undefined) continue;
        requestId = value;
        break;
      default:
        break;
    }
    append(headers, name, value);
  }
  if (requestId === undefined) {
    requestId = newRequestId();
    headers['x-request-id'] = requestId;
  }
  if (clientAddress !== undefined) appendForwardedFor(headers, clientAddress);
  return { headers, requestId, host, hostCount, hasBody };
}

/** Add the client's address to `x-forwarded-for`. */
export function appendForwardedFor(headers: HeaderRecord, clientAddress: string): void {
  const forwarded = headers['x-forwarded-for'];
  headers['x-forwarded-for'] = forwarded === undefined ? clientAddress
    : `${typeof forwarded === 'string' ? forwarded : forwarded.join(', ')}, ${clientAddress}`;
}

/** Response headers from undici's raw list ([name, value, …] as Buffers), hop-by-hop removed. */
export function responseHeaders(raw: readonly Buffer[]): HeaderRecord {
  const headers: HeaderRecord = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i]).toString('latin1').toLowerCase();
    if (HOP_BY_HOP.has(name)) continue;
    append(headers, name, (raw[i + 1]).toString('latin1'));
  }
  return headers;
}

/**
 * Response headers from Node's string `rawHeaders` ([name, value, …]); hop-by-hop ones
 * removed unless `keepHopByHop` (a 101's Upgrade and Connection are the handshake itself).
 */
export function rawResponseHeaders(raw: readonly string[], keepHopByHop: boolean): HeaderRecord {
  const headers: HeaderRecord = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i]).toLowerCase();
    if (name === '__proto__' || (!keepHopByHop && HOP_BY_HOP.has(name))) continue;
    append(headers, name, raw[i + 1]);
  }
  return headers;
}
