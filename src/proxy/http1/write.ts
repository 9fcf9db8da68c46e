/**
 * Writing HTTP/1.1 messages on a raw socket: each head as one string (latin1, as header
 * bytes are passed through), and the framing the proxy chooses for the body it forwards
 * — the received Content-Length when there is one, a Content-Length for a body that is
 * whole already, else chunked (close-delimited for an HTTP/1.0 client).
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { failureResponse } from '../rescue.js';
import type { ProxyFailure, Target } from '../types.js';

type Headers = Readonly<Record<string, string | readonly string[]>>;

/** Header lines (`name: value\r\n`…) of a record; `skip` names one left out (the proxy sets it itself). */
export function headerLines(headers: Headers, skip?: string): string {
  let text = '';
  for (const name in headers) {
    if (name === skip) continue;
    const value = headers[name];
    if (typeof value === 'string') text += `${name}: ${value}\r\n`;
    else for (let i = 0; i < value.length; i++) text += `${name}: ${value[i]}\r\n`;
  }
  return text;
}

export function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
}

/** The bytes of the chunks in all. */
export function byteLength(chunks: readonly Buffer[]): number {
  let total = 0;
  for (let i = 0; i < chunks.length; i++) total += (chunks[i]).length;
  return total;
}

/** One chunk of a chunked body, corked into one write. */
export function writeChunk(socket: Duplex, chunk: Buffer): boolean {
  socket.cork();
  socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
  socket.write(chunk);
  const more = socket.write('\r\n', 'latin1');
  socket.uncork();
  return more;
}

export const LAST_CHUNK = '0\r\n\r\n';

/** A failure the proxy answers itself, as one string (head and JSON body; the body is UTF-8). */
export function failureMessage(failure: ProxyFailure, target: Target, close: boolean): string {
  const answer = failureResponse(failure, target);
  return `${statusLine(answer.status)}${headerLines(answer.headers)}content-length: ${Buffer.byteLength(answer.body)}\r\n`
    + `${close ? 'connection: close\r\n' : ''}\r\n${answer.body}`;
}

export const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
