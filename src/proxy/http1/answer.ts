/**
 * Writing answers to HTTP/1 clients: an upstream response streamed through, or a failure
 * as rescue.ts renders it (the only place that decides what an error answer looks like).
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import type { Logger } from 'pino';
import { ErrorCodes, messageOf } from '../../errors.js';
import { ThrottledLog } from '../../util/throttled-log.js';
import { proxyFailure } from '../failure.js';
import { failureResponse } from '../rescue.js';
import type { Outcome, ProxyFailure, Target } from '../types.js';

/** Counters of one listener; plain numbers for the status and a later metrics exporter. */
export class ListenerStats {
  requests = 0;
  inFlight = 0;
  /** Malformed requests, over-long headers, slow clients. */
  clientErrors = 0;
  /** Responses cut off because the upstream failed mid-body. */
  brokenResponses = 0;
  /** Upgraded connections (WebSocket) relayed after a 101, in all; open ones count in inFlight. */
  upgrades = 0;
  /** Client connections open now (HTTP/1 on raw sockets; an upgraded one leaves this count for inFlight). */
  connections = 0;
}

/** Logging of failures a peer can cause at will: every one at debug, a warning at most once a minute. */
export interface AnswerLogs {
  readonly brokenResponse: ThrottledLog;
  readonly clientError: ThrottledLog;
}

export function answerLogs(logger: Logger): AnswerLogs {
  return {
    brokenResponse: new ThrottledLog(logger, 'an upstream response broke off mid-body; the client connection was reset'),
    clientError: new ThrottledLog(logger, 'bad request from a client'),
  };
}

export function writeFailure(res: ServerResponse, failure: ProxyFailure, target: Target, closeConnection: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const answer = failureResponse(failure, target);
  if (closeConnection) res.setHeader('connection', 'close');
  res.setHeader('content-length', Buffer.byteLength(answer.body));
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

/**
 * Forward an outcome; returns the response body being streamed (the caller destroys it
 * if the client goes away first). The body is written with backpressure; if it breaks
 * off, the client's connection is destroyed so that it sees the failure, not a short body.
 */
export function writeOutcome(res: ServerResponse, outcome: Outcome, target: Target, closeConnection: boolean, stats: ListenerStats, logs: AnswerLogs): Readable | null {
  if (!outcome.ok) {
    writeFailure(res, outcome.failure, target, closeConnection);
    return null;
  }
  const { response } = outcome;
  // The whole body is here already (a small response): written with the head, no stream.
  const whole = response.wholeBody?.();
  const body = whole === undefined ? response.body : null;
  if (res.destroyed) {
    body?.destroy();
    return null;
  }
  try {
    if (closeConnection) res.setHeader('connection', 'close');
    res.writeHead(response.status, response.headers);
  } catch (err) {
    // Node refused a header the upstream sent: answer as for a broken upstream.
    body?.destroy();
    writeFailure(res, proxyFailure(ErrorCodes.UPSTREAM_RESET, `${target.service} sent a response head that cannot be forwarded: ${messageOf(err)}`, {
      reachedApp: true, endpoint: response.endpoint,
    }), target, closeConnection);
    return null;
  }
  if (body === null) {
    endWith(res, whole);
    return null;
  }
  // A lighter pipe(): data with backpressure, end, and an error that resets the client.
  body.on('data', (chunk: Buffer) => {
    if (!res.write(chunk)) body.pause();
  });
  res.on('drain', () => body.resume());
  body.once('end', () => res.end());
  body.once('error', (err) => {
    stats.brokenResponses += 1;
    logs.brokenResponse.report({ service: target.service, endpoint: response.endpoint?.id, err: messageOf(err) });
    res.destroy();
  });
  return body;
}

/** End a response with the chunks of a body that is already whole (none: no body). */
function endWith(res: ServerResponse, chunks: readonly Buffer[] | undefined): void {
  if (chunks === undefined || chunks.length === 0) {
    res.end();
    return;
  }
  const last = chunks.length - 1;
  for (let i = 0; i < last; i++) res.write(chunks[i]);
  res.end(chunks[last]);
}

/** A response head as raw HTTP/1.1 text, up to the blank line; `connection`, when given, replaces the one in `headers`. */
export function rawHead(status: number, headers: Readonly<Record<string, string | readonly string[]>>, connection?: string): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (connection !== undefined && name === 'connection') continue;
    if (typeof value === 'string') head += `${name}: ${value}\r\n`;
    else for (const one of value) head += `${name}: ${one}\r\n`;
  }
  return connection === undefined ? `${head}\r\n` : `${head}connection: ${connection}\r\n\r\n`;
}

/** The answer as raw HTTP/1.1 bytes, for a socket Node's parser gave up on (the connection closes after it). */
function rawAnswer(failure: ProxyFailure, target: Target): string {
  const answer = failureResponse(failure, target);
  return rawHead(answer.status, { ...answer.headers, 'content-length': String(Buffer.byteLength(answer.body)) }, 'close') + answer.body;
}

/** Answer on a raw socket and close it; a socket with a response already under way is just destroyed. */
export function writeRawFailure(socket: Duplex, failure: ProxyFailure, target: Target): void {
  // Node's own clientError fallback makes the same check: a response in progress cannot be followed by another head.
  const inProgress = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (!socket.writable || (inProgress !== undefined && inProgress !== null && inProgress.headersSent === true)) {
    socket.destroy();
    return;
  }
  socket.end(rawAnswer(failure, target));
}
