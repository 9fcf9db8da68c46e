/**
 * One client connection of the raw-socket HTTP/1.1 server: a state machine over a `net` or
 * `tls` socket, parsed by Node's native llhttp (./llhttp.ts, strict). Each request becomes a
 * ProxyRequest for the site's pipeline, exactly as node:http's did (./serve.ts reads both);
 * each Outcome is written back with its head as one string and its body streamed with
 * backpressure both ways, re-framed (./write.ts).
 *
 * What it keeps of node:http: keep-alive and `Connection: close` (HTTP/1.0 too), pipelined
 * requests answered in order, HEAD/204/304 without bodies, `Expect: 100-continue`, header
 * size (llhttp's maxHeaderSize) and count limits, header, request and idle timeouts checked
 * by the listener's sweep (no timer per request), malformed and smuggling requests refused
 * (llhttp: CL+TE, duplicate or bad Content-Length, obs-fold, bad bytes; here: duplicate or
 * missing Host) with 400/408/431 and a `trellis-error` code, then the connection closed.
 * Upgrades (WebSocket) go to the relay (./upgrade.ts) with the bytes that followed their
 * head; CONNECT is refused; an HTTP/2 prior-knowledge preface hands the socket to the
 * listener's node:http2 server. A client that stops reading its answer is disconnected.
 */
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';
import { formatDuration } from '../../util/duration.js';
import { FedBody, type BodyFlow } from '../body.js';
import { Cancellation } from '../cancel.js';
import { proxyFailure } from '../failure.js';
import type { Outcome, ProxyFailure, ProxyRequest, Target } from '../types.js';
import { clientErrorFailure, type ParserLimits } from './client-error.js';
import {
  HEAD_CONTINUE, HEAD_UPGRADE, kOnBody, kOnHeaders, kOnHeadersComplete, kOnMessageBegin, kOnMessageComplete, METHODS, newParser, REQUEST,
  type LlhttpParser, type ParserError,
} from './llhttp.js';
import { CLIENT_GONE, handlerBug, readRequest, type Http1Site, type ReceivedHead } from './serve.js';
import { serveUpgrade } from './upgrade.js';
import { byteLength, CONTINUE, failureMessage, headerLines, LAST_CHUNK, statusLine, writeChunk } from './write.js';

/** Most header fields in one request head (node:http: 2000; Envoy: 100). More is a 431. */
export const MAX_HEADER_COUNT = 256;

export interface RawLimits extends ParserLimits {
  readonly keepAliveTimeoutMs: number;
}

/** What the listener gives each of its connections. */
export interface ConnectionHost {
  readonly site: Http1Site;
  readonly limits: RawLimits;
  /** Open connections (the sweep checks their timeouts; close() ends them). */
  readonly connections: Set<ServerConnection>;
  /** Upgraded connections, relayed. */
  readonly tunnels: Set<Duplex>;
  /** Takes a connection that opened with the HTTP/2 preface (h2c prior knowledge); absent: refused. */
  readonly http2?: (socket: Socket) => void;
}

/** A request head as parsed, waiting for its turn (pipelining) or being served. */
class Message implements ReceivedHead {
  method: string;
  url: string;
  rawHeaders: string[];
  httpVersionMinor: number;
  keepAlive: boolean;
  socket: Socket;
  /** The body the parser feeds (made at the first chunk, or when the pipeline asks). */
  body: FedBody | undefined = undefined;
  /** The whole message was parsed (its body included). */
  complete = false;
  /** A refusal found while parsing (too many headers, CONNECT, an Expect the proxy cannot meet). */
  refusal: ProxyFailure | undefined = undefined;
  continue = false;
  upgrade: string | undefined = undefined;
  /** An upgrade's bytes that followed its head (the tunnel's first), once its buffer is parsed. */
  upgradeHead: Buffer | undefined = undefined;

  constructor(method: string, url: string, rawHeaders: string[], httpVersionMinor: number, keepAlive: boolean, socket: Socket) {
    this.method = method;
    this.url = url;
    this.rawHeaders = rawHeaders;
    this.httpVersionMinor = httpVersionMinor;
    this.keepAlive = keepAlive;
    this.socket = socket;
  }
}

const PARSE_IDLE = 0;
const PARSE_HEAD = 1;
const PARSE_BODY = 2;

/** A whole body up to this size goes out in the same write as its head. */
const SMALL_BODY_BYTES = 16 * 1024;

/** Bytes kept from the start of a connection until its first head parses: an HTTP/2 preface is handed on whole. */
const PRELUDE_MAX_BYTES = 1024;

export class ServerConnection implements BodyFlow {
  readonly #socket: Socket;
  readonly #host: ConnectionHost;
  readonly #site: Http1Site;
  #parser: LlhttpParser | undefined;
  /** Heads (and URL) of a message with more than 32 header pairs, as they came. */
  #partialHeaders: string[] = [];
  #partialUrl = '';
  /** The message being parsed, and the ones parsed and waiting (the first is being served). */
  #parsing: Message | undefined;
  readonly #queue: Message[] = [];
  #parseState = PARSE_HEAD;
  /** performance.now() when the current message's first byte came (or the connection opened). */
  #parseSince: number;
  /** When the connection became idle (no request in flight, none being parsed). */
  #idleSince = 0;
  /** The request being served: its signal, whether its answer closes the connection, the body being streamed. */
  #active: Message | undefined;
  #request: ProxyRequest | undefined;
  #target: Target | undefined;
  #cancel: Cancellation | undefined;
  #close = false;
  #responseBody: Readable | null = null;
  #chunked = false;
  /** performance.now() since which a write has been waiting for the client to read (0: none). */
  #blockedSince = 0;
  #bodyPaused = false;
  #readPaused = false;
  #closed = false;
  #handedOff = false;
  #prelude: Buffer[] | undefined = [];
  #preludeBytes = 0;
  #upgrading: Message | undefined;
  #requests = 0;

  constructor(socket: Socket, host: ConnectionHost) {
    this.#socket = socket;
    this.#host = host;
    this.#site = host.site;
    this.#parseSince = performance.now();
    const parser = newParser(REQUEST, host.limits.maxHeaderSize);
    parser[kOnMessageBegin] = this.#onMessageBegin;
    parser[kOnHeaders] = this.#onHeaders;
    parser[kOnHeadersComplete] = this.#onHeadersComplete;
    parser[kOnBody] = this.#onBody;
    parser[kOnMessageComplete] = this.#onMessageComplete;
    this.#parser = parser;
    host.connections.add(this);
    host.site.stats.connections += 1;
    socket.setNoDelay(true);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onClose);
    socket.on('error', ignore); // a reset client just closes; the close does the rest
    socket.on('drain', this.#onDrain);
  }

  // ---- parsing ----------------------------------------------------------------------------

  readonly #onData = (chunk: Buffer): void => {
    const parser = this.#parser;
    if (parser === undefined) return;
    if (this.#prelude !== undefined) {
      this.#prelude.push(chunk);
      this.#preludeBytes += chunk.length;
      if (this.#preludeBytes > PRELUDE_MAX_BYTES) this.#prelude = undefined;
    }
    const result = parser.execute(chunk);
    if (typeof result !== 'number') {
      this.#parseError(result);
      return;
    }
    const upgrading = this.#upgrading;
    if (upgrading !== undefined) {
      this.#upgrading = undefined;
      this.#stopParsing();
      this.#socket.pause();
      upgrading.upgradeHead = chunk.subarray(result);
    }
    this.#next();
  };

  readonly #onMessageBegin = (): void => {
    this.#parseState = PARSE_HEAD;
    this.#parseSince = performance.now();
  };

  readonly #onHeaders = (headers: string[], url: string): void => {
    for (let i = 0; i < headers.length; i++) this.#partialHeaders.push(headers[i]);
    this.#partialUrl += url;
  };

  readonly #onHeadersComplete = (major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined,
    _status: unknown, _statusMessage: unknown, upgrade: boolean, keepAlive: boolean): number => {
    this.#prelude = undefined;
    let raw = headers;
    if (raw === undefined) {
      raw = this.#partialHeaders;
      this.#partialHeaders = [];
    }
    let target = url;
    if (target === undefined) {
      target = this.#partialUrl;
      this.#partialUrl = '';
    }
    const message = new Message(METHODS[method] ?? 'GET', target, raw, minor, keepAlive, this.#socket);
    this.#queue.push(message);
    this.#parsing = message;
    this.#parseState = PARSE_BODY;
    if (major !== 1) {
      // llhttp reads a request line without a version as HTTP/0.9: not spoken here.
      message.refusal = proxyFailure(ErrorCodes.BAD_REQUEST, `malformed HTTP/1.1 request: the request line must end with HTTP/1.1 (got HTTP/${major}.${minor})`);
      message.keepAlive = false;
    } else if (raw.length > MAX_HEADER_COUNT * 2) {
      message.refusal = proxyFailure(ErrorCodes.HEADERS_TOO_LARGE, `the request has ${raw.length / 2} header fields, more than this proxy's limit of ${MAX_HEADER_COUNT}`);
    }
    const expect = fieldOf(raw, 'expect');
    if (expect !== undefined) {
      if (expect.toLowerCase() === '100-continue') message.continue = minor >= 1;
      else message.refusal ??= proxyFailure(ErrorCodes.BAD_REQUEST, `the expectation ${JSON.stringify(expect.slice(0, 100))} cannot be met: only Expect: 100-continue is supported`);
    }
    if (upgrade) {
      if (message.method === 'CONNECT') {
        message.refusal ??= proxyFailure(ErrorCodes.BAD_REQUEST, 'CONNECT tunnels are not supported: send plain HTTP requests such as http://SERVICE/path to this proxy');
        message.complete = true;
        message.keepAlive = false;
        return HEAD_UPGRADE;
      }
      message.upgrade = fieldOf(raw, 'upgrade') ?? '';
      this.#upgrading = message;
      return HEAD_UPGRADE;
    }
    return HEAD_CONTINUE;
  };

  readonly #onBody = (chunk: Buffer): void => {
    const message = this.#parsing;
    if (message === undefined) return;
    (message.body ??= this.#newBody()).push(chunk);
  };

  readonly #onMessageComplete = (): void => {
    const message = this.#parsing;
    this.#parsing = undefined;
    this.#parseState = PARSE_IDLE;
    if (message === undefined) return;
    message.complete = true;
    message.body?.end();
    if (this.#queue.length > 1) this.#setReadPaused(true); // pipelined: read on once the queue is served
  };

  #newBody(): FedBody {
    return new FedBody(this.#site.replayBufferBytes, this);
  }

  #parseError(err: ParserError): void {
    const prelude = this.#prelude;
    this.#stopParsing();
    if (err.code === 'HPE_PAUSED_H2_UPGRADE' && this.#requests === 0 && this.#queue.length === 0) {
      this.#handOffHttp2(prelude);
      return;
    }
    this.#parsing?.body?.fail(clientFault(`malformed request body: ${err.reason ?? err.code} (${err.code})`));
    const failure = clientErrorFailure(err, this.#host.limits);
    this.#refuseConnection(failure);
  }

  /** A client error outside any request: counted, logged, answered (when nothing is being answered), and the connection closed. */
  #refuseConnection(failure: ProxyFailure | undefined): void {
    this.#stopParsing();
    if (failure === undefined) {
      this.#socket.destroy();
      return;
    }
    const site = this.#site;
    site.stats.clientErrors += 1;
    site.logs.clientError.report({ error: failure.error.code, message: failure.error.message });
    if (this.#active !== undefined || this.#responseBody !== null || !this.#socket.writable) {
      // A response is under way: another head cannot follow it.
      this.#socket.destroy();
      return;
    }
    this.#socket.end(failureMessage(failure, site.localTarget, true));
    this.#closing();
  }

  #stopParsing(): void {
    const parser = this.#parser;
    if (parser === undefined) return;
    this.#parser = undefined;
    this.#prelude = undefined;
    parser.remove();
    parser.free();
  }

  #handOffHttp2(prelude: Buffer[] | undefined): void {
    const http2 = this.#host.http2;
    if (http2 === undefined || prelude === undefined || 'encrypted' in this.#socket) {
      this.#refuseConnection(proxyFailure(ErrorCodes.BAD_REQUEST, 'HTTP/2 with prior knowledge is not served on this listener: speak HTTP/1.1'));
      return;
    }
    this.#detach();
    const socket = this.#socket;
    socket.pause();
    socket.unshift(prelude.length === 1 ? prelude[0] : Buffer.concat(prelude));
    http2(socket);
  }

  /** The socket leaves this connection (HTTP/2, or an upgrade): none of its listeners stay. */
  #detach(): void {
    this.#handedOff = true;
    this.#stopParsing();
    const socket = this.#socket;
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('close', this.#onClose);
    socket.off('error', ignore);
    socket.off('drain', this.#onDrain);
    this.#forget();
  }

  #forget(): void {
    if (!this.#host.connections.delete(this)) return;
    this.#site.stats.connections -= 1;
  }

  // ---- serving ----------------------------------------------------------------------------

  /** Serve the next parsed request, if none is being served. */
  #next(): void {
    if (this.#active !== undefined || this.#closed || this.#close) return;
    const message = this.#queue[0];
    if (message === undefined) {
      if (this.#parseState === PARSE_IDLE) this.#idleSince = performance.now();
      this.#setReadPaused(false);
      return;
    }
    if (message.upgrade !== undefined) {
      if (message.upgradeHead === undefined) return; // the rest of its buffer comes with the execute that parsed it
      this.#queue.shift();
      this.#upgrade(message, message.upgrade, message.upgradeHead);
      return;
    }
    this.#active = message;
    this.#requests += 1;
    const { stats } = this.#site;
    stats.requests += 1;
    stats.inFlight += 1;
    const cancel = new Cancellation();
    this.#cancel = cancel;
    this.#close = !message.keepAlive;
    if (message.refusal !== undefined) {
      stats.clientErrors += 1;
      this.#close = true;
      this.#writeFailure(message.refusal, this.#site.localTarget);
      return;
    }
    const read = readRequest(message, this.#site, cancel, undefined, () => (message.body ??= this.#newBody()));
    if (read.request === undefined) {
      if (read.close) this.#close = true;
      if (read.failure.error.code === ErrorCodes.BAD_REQUEST) {
        stats.clientErrors += 1;
        this.#site.logs.clientError.report({ error: read.failure.error.code, message: read.failure.error.message });
      }
      this.#writeFailure(read.failure, read.target);
      return;
    }
    this.#request = read.request;
    this.#target = read.route.target;
    if (message.continue && !message.complete) this.#socket.write(CONTINUE, 'latin1');
    // The connection's two bound callbacks: no closure per request.
    read.route.handler(read.request).then(this.#onOutcome, this.#onBug);
  }

  readonly #onOutcome = (outcome: Outcome): void => {
    const target = this.#target as Target;
    if (this.#closed) {
      if (outcome.ok && outcome.response.wholeBody?.() === undefined) outcome.response.body?.destroy();
      return;
    }
    if (!outcome.ok) {
      this.#writeFailure(outcome.failure, target);
      return;
    }
    this.#writeResponse(outcome);
  };

  readonly #onBug = (err: unknown): void => {
    this.#close = true;
    if (this.#closed) return;
    this.#writeFailure(handlerBug(err, this.#site, this.#request as ProxyRequest), this.#target as Target);
  };

  /** Whether the answer closes the connection: asked for, draining, or the request body not all read. */
  #closesAfter(): boolean {
    if (!this.#close && (this.#site.draining() || this.#active?.complete !== true)) this.#close = true;
    return this.#close;
  }

  #writeFailure(failure: ProxyFailure, target: Target): void {
    const close = this.#closesAfter();
    this.#socket.write(failureMessage(failure, target, close), 'utf8');
    this.#finish();
  }

  #writeResponse(outcome: Outcome & { ok: true }): void {
    const { response } = outcome;
    const message = this.#active as Message;
    const { status } = response;
    const noBody = message.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    const whole = response.wholeBody?.();
    const body = whole === undefined ? response.body : null;
    const { headers } = response;
    let framing = '';
    let chunked = false;
    if (noBody) {
      body?.destroy();
    } else if (headers['content-length'] !== undefined) {
      // Forwarded as received: the upstream's parser held it to that length.
    } else if (whole !== undefined || body === null) {
      framing = `content-length: ${whole === undefined ? 0 : byteLength(whole)}\r\n`;
    } else if (message.httpVersionMinor >= 1) {
      framing = 'transfer-encoding: chunked\r\n';
      chunked = true;
    } else {
      this.#close = true; // HTTP/1.0: the body ends with the connection
    }
    const close = this.#closesAfter();
    const connection = close ? 'connection: close\r\n' : message.httpVersionMinor === 0 ? 'connection: keep-alive\r\n' : '';
    const head = `${statusLine(status)}${headerLines(headers, 'connection')}${framing}${connection}\r\n`;
    const socket = this.#socket;
    if (noBody || body === null) {
      if (noBody || whole === undefined || whole.length === 0) {
        socket.write(head, 'latin1');
      } else if (whole.length === 1 && (whole[0]).length <= SMALL_BODY_BYTES) {
        // One write of one string: latin1 carries the body's bytes one for one.
        socket.write(head + (whole[0]).toString('latin1'), 'latin1');
      } else {
        socket.cork();
        socket.write(head, 'latin1');
        for (let i = 0; i < whole.length; i++) socket.write(whole[i]);
        socket.uncork();
      }
      this.#finish();
      return;
    }
    if (!socket.write(head, 'latin1')) this.#blockedSince = performance.now();
    this.#chunked = chunked;
    this.#responseBody = body;
    body.on('data', this.#onBodyData);
    body.once('end', this.#onBodyEnd);
    body.once('error', this.#onBodyError);
  }

  readonly #onBodyData = (chunk: Buffer): void => {
    const more = this.#chunked ? writeChunk(this.#socket, chunk) : this.#socket.write(chunk);
    if (!more) {
      this.#responseBody?.pause();
      if (this.#blockedSince === 0) this.#blockedSince = performance.now();
    }
  };

  readonly #onDrain = (): void => {
    this.#blockedSince = 0;
    this.#responseBody?.resume();
  };

  readonly #onBodyEnd = (): void => {
    const body = this.#responseBody;
    if (body === null) return;
    this.#releaseBody(body);
    if (this.#chunked) this.#socket.write(LAST_CHUNK, 'latin1');
    this.#finish();
  };

  readonly #onBodyError = (err: Error): void => {
    const body = this.#responseBody;
    if (body === null) return;
    this.#releaseBody(body);
    const site = this.#site;
    site.stats.brokenResponses += 1;
    site.logs.brokenResponse.report({ service: this.#target?.service, err: messageOf(err) });
    // The client must see a failure, not a short body.
    this.#socket.destroy();
  };

  #releaseBody(body: Readable): void {
    this.#responseBody = null;
    body.off('data', this.#onBodyData);
    body.off('end', this.#onBodyEnd);
    body.off('error', this.#onBodyError);
    body.on('error', ignore); // a body destroyed with the client's error later has nobody else to tell
  }

  /** The answer is written: the next request, or the close. */
  #finish(): void {
    const message = this.#active;
    this.#active = undefined;
    this.#request = undefined;
    this.#target = undefined;
    this.#cancel = undefined;
    if (message !== undefined) {
      this.#site.stats.inFlight -= 1;
      if (this.#queue[0] === message) this.#queue.shift();
    }
    if (this.#close) {
      this.#stopParsing();
      this.#socket.end();
      this.#closing();
      return;
    }
    this.#next();
  }

  /** Ending: whatever the client sends now is not read; a client that does not close is cut off by the sweep. */
  #closing(): void {
    this.#close = true;
    this.#idleSince = performance.now();
    this.#socket.resume();
  }

  #upgrade(message: Message, upgrade: string, head: Buffer): void {
    const socket = this.#socket;
    this.#detach();
    socket.resume();
    serveUpgrade(message, upgrade, socket, head, this.#site, this.#host.tunnels);
  }

  // ---- flow control and the end -----------------------------------------------------------

  pauseBody(): void {
    this.#bodyPaused = true;
    this.#applyFlow();
  }

  resumeBody(): void {
    this.#bodyPaused = false;
    this.#applyFlow();
  }

  #setReadPaused(paused: boolean): void {
    if (this.#readPaused === paused) return;
    this.#readPaused = paused;
    this.#applyFlow();
  }

  #applyFlow(): void {
    if (this.#handedOff || this.#closed) return;
    if (this.#bodyPaused || this.#readPaused) this.#socket.pause();
    else this.#socket.resume();
  }

  readonly #onEnd = (): void => {
    const parser = this.#parser;
    if (parser !== undefined) {
      const err = parser.finish();
      if (err !== undefined) {
        // The client half-closed inside a message (a truncated body): that request cannot be served.
        // Its attempt fails with a client error (answered 400 while the client still reads).
        this.#parsing?.body?.fail(clientFault(`the client closed its side before the request body ended (${err.code})`));
      }
    }
    this.#stopParsing();
    if (this.#active === undefined && this.#queue.length === 0) this.#socket.end();
    else this.#close = true;
  };

  readonly #onClose = (): void => {
    this.#closed = true;
    this.#stopParsing();
    this.#forget();
    const active = this.#active;
    if (active === undefined) return;
    this.#active = undefined;
    this.#site.stats.inFlight -= 1;
    // The client went away first: stop the attempt, or the response still streaming.
    this.#cancel?.abort(CLIENT_GONE);
    active.body?.fail(CLIENT_GONE);
    const body = this.#responseBody;
    if (body !== null) {
      this.#releaseBody(body);
      if (!body.readableEnded) body.destroy();
    }
  };

  /** The listener's periodic check of this connection's timeouts (`now`: performance.now()). */
  sweep(now: number): void {
    if (this.#closed || this.#handedOff) return;
    const { limits } = this.#host;
    if (this.#blockedSince !== 0) {
      // The client does not read its answer.
      if (now - this.#blockedSince > stallLimitMs(limits)) this.#socket.destroy();
      return;
    }
    if (this.#close && this.#active === undefined) {
      if (now - this.#idleSince > limits.keepAliveTimeoutMs) this.#socket.destroy();
      return;
    }
    if (this.#parser === undefined) return;
    if (this.#parseState === PARSE_HEAD && this.#queue.length === 0 && now - this.#parseSince > limits.headersTimeoutMs) {
      this.#timedOut();
    } else if (this.#parseState === PARSE_BODY && limits.requestTimeoutMs > 0 && now - this.#parseSince > limits.requestTimeoutMs) {
      this.#timedOut();
    } else if (this.#parseState === PARSE_IDLE && this.#active === undefined && this.#queue.length === 0 && now - this.#idleSince > limits.keepAliveTimeoutMs) {
      this.#socket.destroy();
    }
  }

  #timedOut(): void {
    const { limits } = this.#host;
    const requestPart = limits.requestTimeoutMs > 0 ? ` and the whole request within ${formatDuration(limits.requestTimeoutMs)}` : '';
    this.#parsing?.body?.fail(clientFault('the client sent its request body too slowly'));
    this.#refuseConnection(proxyFailure(ErrorCodes.REQUEST_TIMEOUT, `the client must send the request headers within ${formatDuration(limits.headersTimeoutMs)}${requestPart}`));
  }

  /** Idle keep-alive connections close at once (draining); busy ones close after their answer. */
  closeIdle(): void {
    if (this.#active === undefined && this.#queue.length === 0 && this.#parseState !== PARSE_BODY) this.#socket.destroy();
    else this.#close = true;
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

/** A field's first value in a raw header list, by lower-case name. */
function fieldOf(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i];
    if (field.length === name.length && field.toLowerCase() === name) return raw[i + 1];
  }
  return undefined;
}

/** How long a client may take none of its answer before it is disconnected. */
function stallLimitMs(limits: RawLimits): number {
  return limits.requestTimeoutMs > 0 ? limits.requestTimeoutMs : 300_000;
}

function ignore(): void {}

/** A request body the client broke: the attempt fails with a client error, never blamed on the endpoint. */
function clientFault(message: string): TrellisError {
  return new TrellisError(ErrorCodes.BAD_REQUEST, message);
}
