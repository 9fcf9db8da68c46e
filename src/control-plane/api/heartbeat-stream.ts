/**
 * The keep-alive stream: one long-lived connection per sidecar carrying the heartbeats of all
 * its instances of a service, like etcd's LeaseKeepAlive stream — a heartbeat is one short
 * line, not an HTTP request (no head to parse, no route, no auth, no response head).
 *
 *   GET /v1/services/:service/heartbeats/stream
 *   Connection: Upgrade · Upgrade: trellis-heartbeats · Authorization: Bearer <token>
 *
 * is answered `101 Switching Protocols`; then both ways carry NDJSON lines (docs/api.md):
 *
 *   client → server  {"seq":1,"ids":["a","b"]}          heartbeats of 1 to 1,000 instances
 *   server → client  {"type":"open","service":…,"keepAliveMs":…}           once, at once
 *                    {"type":"ack","seq":1,"ok":2,"failed":[]}              per line, in order
 *                    {"type":"ack","seq":1,"ok":1,"failed":[{"id":"b","error":{…}}]}
 *                    {"type":"error","seq":1,"error":{…}}    a line refused whole (bad JSON, 429)
 *                    an empty line every keepAliveMs (the client's sign of a live server)
 *
 * The token is checked at the upgrade (instance access to :service) and again at most once a
 * second while lines come (an expired or revoked token ends the stream), and each line is
 * charged to the token's rate limit like a bulk call (one per id). Lines are handled one at a
 * time, in order; the socket is paused while many wait or while the client does not read its
 * acks, so a fast sender is slowed down by TCP, never buffered without bound. A connection
 * that sends nothing for `idleTimeoutMs` is closed; so is one whose line has no end after
 * MAX_LINE_BYTES (after an error line naming the limit).
 *
 * Node sends every upgrade request on the API's listener here: a GET or HEAD for another path
 * is answered by the API's router as usual (the upgrade offer ignored, as RFC 9110 allows), and
 * any other method asking for an upgrade is refused (send it without `Upgrade`).
 */
import { STATUS_CODES, ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { HEARTBEAT_PROTOCOL } from '../../client/heartbeat-stream.js';
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { Registry } from '../../registry/registry.js';
import type { Authenticator } from '../../security/access/authenticator.js';
import { allows, describeAccess, describeAllowed, describePrincipal } from '../../security/access/permissions.js';
import { bearer } from './auth.js';
import { toTrellisError } from './errors.js';
import { principalKey, rateLimitError, type RateLimiter } from './rate-limit.js';
import { MAX_BULK_ITEMS } from './services.js';

/** A line of MAX_BULK_ITEMS ids of the longest names fits. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Lines waiting before the socket is paused, and when it resumes. */
const PAUSE_AT = 32;
/** How often a stream's token is checked again (expiry, revocation). */
const RECHECK_MS = 1_000;
const RESUME_AT = 4;
/** Unread acks (bytes) before the socket is paused until the client reads. */
const MAX_UNREAD_BYTES = 1024 * 1024;

const PATH = /^\/v1\/services\/([^/?#]+)\/heartbeats\/stream(?:\?.*)?$/;

export interface HeartbeatStreamOptions {
  readonly registry: Registry;
  readonly authenticator: Authenticator;
  readonly limiter: RateLimiter;
  readonly logger: FastifyBaseLogger;
  /** An empty line this often (default 15 s). */
  readonly keepAliveMs?: number;
  /** A stream the client sent nothing on for this long is closed (the listener's idle timeout). */
  readonly idleTimeoutMs: number;
}

/** Answer a request on a raw socket in the API's error shape, then close it. */
function refuse(socket: Duplex, error: TrellisError): void {
  if (socket.writable) {
    const body = JSON.stringify(error.toJSON());
    socket.end(`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, () => socket.destroy());
  } else {
    socket.destroy();
  }
}

/** The ids of a line `{"seq"?: number, "ids": [...]}`, or a coded error naming what is wrong. */
function parseLine(text: string): { seq: number | null; ids: string[] } | { seq: number | null; error: TrellisError } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { seq: null, error: new TrellisError(ErrorCodes.INVALID_JSON, 'a heartbeat line must be one JSON object such as {"seq":1,"ids":["instance-1"]} ending with a newline') };
  }
  const line = (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : {}) as Record<string, unknown>;
  const seq = typeof line['seq'] === 'number' && Number.isSafeInteger(line['seq']) ? line['seq'] : null;
  if (line['seq'] !== undefined && seq === null) {
    return { seq, error: new TrellisError(ErrorCodes.VALIDATION, '"seq" must be a whole number (it is echoed in the ack)', { field: 'seq' }) };
  }
  const ids = line['ids'];
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_BULK_ITEMS || !ids.every((id) => typeof id === 'string')) {
    return { seq, error: new TrellisError(ErrorCodes.VALIDATION, `a heartbeat line must be {"seq": n, "ids": [...]} with 1 to ${MAX_BULK_ITEMS} instance ids (strings)`, { field: 'ids' }) };
  }
  return { seq, ids };
}

/** Serve the keep-alive stream on `app`'s listener (its 'upgrade' event). */
export function heartbeatStreams(app: FastifyInstance, options: HeartbeatStreamOptions): void {
  const open = new Set<Duplex>();
  const keepAliveMs = options.keepAliveMs ?? 15_000;

  const serve = (socket: Duplex, service: string, limiterKey: string, head: Buffer, recheck: () => Promise<TrellisError | undefined>): void => {
    open.add(socket);
    let checkedAt = performance.now();
    let buffered = '';
    const lines: string[] = [];
    let busy = false;
    let lastRead = performance.now();
    let corked = false;
    const send = (message: object): void => {
      if (!socket.writable) return;
      // The acks of one turn go out in one write (a syscall each was most of a heartbeat's cost).
      if (!corked) {
        corked = true;
        socket.cork();
        setImmediate(() => { corked = false; socket.uncork(); });
      }
      if (!socket.write(`${JSON.stringify(message)}\n`) && socket.writableLength > MAX_UNREAD_BYTES) socket.pause();
    };
    socket.on('drain', () => { if (lines.length < PAUSE_AT) socket.resume(); });
    const next = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        for (let text = lines.shift(); text !== undefined; text = lines.shift()) {
          if (lines.length <= RESUME_AT && socket.writableLength <= MAX_UNREAD_BYTES) socket.resume();
          await handle(text);
        }
      } finally {
        busy = false;
      }
    };
    const handle = async (text: string): Promise<void> => {
      const line = parseLine(text);
      if ('error' in line) { send({ type: 'error', seq: line.seq, ...line.error.toJSON() }); return; }
      // The token is checked again at most once a second: an expired or revoked one ends the
      // stream (the client reopens it with the token it holds now, or beats over HTTP).
      if (performance.now() - checkedAt >= RECHECK_MS) {
        checkedAt = performance.now();
        const refused = await recheck();
        if (refused !== undefined) {
          send({ type: 'error', seq: line.seq, ...refused.toJSON() });
          socket.end(() => socket.destroy());
          return;
        }
      }
      const waitMs = options.limiter.take(limiterKey, line.ids.length);
      if (waitMs !== undefined) {
        send({ type: 'error', seq: line.seq, ...rateLimitError(waitMs).toJSON() });
        return;
      }
      try {
        const results = await options.registry.heartbeatMany(line.ids.map((id) => ({ service, id })));
        const failed: Array<{ id: string; error: object }> = [];
        results.forEach((result, i) => { if (!result.ok) failed.push({ id: line.ids[i] ?? '', error: result.error.toJSON().error }); });
        send({ type: 'ack', seq: line.seq, ok: results.length - failed.length, failed });
      } catch (err) {
        const error = toTrellisError(err);
        if (error.status >= 500) options.logger.error({ err, service }, 'heartbeat stream: a line failed');
        send({ type: 'error', seq: line.seq, ...error.toJSON() });
      }
    };
    const onData = (chunk: Buffer | string): void => {
      lastRead = performance.now();
      buffered += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        const text = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (text !== '') lines.push(text);
        newline = buffered.indexOf('\n');
      }
      if (Buffer.byteLength(buffered) > MAX_LINE_BYTES) {
        send({ type: 'error', seq: null, ...new TrellisError(ErrorCodes.BODY_TOO_LARGE, `a heartbeat line is longer than ${MAX_LINE_BYTES} bytes without a newline: send at most ${MAX_BULK_ITEMS} ids a line; closing the stream`).toJSON() });
        socket.end(() => socket.destroy());
        return;
      }
      if (lines.length >= PAUSE_AT) socket.pause();
      void next();
    };
    const keepAlive = setInterval(() => {
      if (performance.now() - lastRead > options.idleTimeoutMs) { socket.destroy(); return; }
      if (socket.writable && socket.writableLength === 0) socket.write('\n');
    }, Math.min(keepAliveMs, options.idleTimeoutMs));
    keepAlive.unref();
    socket.on('close', () => { clearInterval(keepAlive); open.delete(socket); });
    socket.on('error', () => socket.destroy());
    socket.on('end', () => socket.end());
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${HEARTBEAT_PROTOCOL}\r\n\r\n`);
    send({ type: 'open', service, keepAliveMs });
    socket.on('data', onData);
    if (head.length > 0) onData(head);
  };

  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const match = PATH.exec(req.url ?? '');
    if (match === null) {
      if (req.method === 'GET' || req.method === 'HEAD') {
        // Not ours: the router answers it as if no upgrade had been offered (one request, then close).
        socket.unshift(head);
        const res = new ServerResponse(req);
        res.shouldKeepAlive = false;
        res.assignSocket(socket as Socket);
        res.on('finish', () => { socket.end(); });
        app.routing(req, res);
        return;
      }
      refuse(socket, new TrellisError(ErrorCodes.BAD_REQUEST, `${req.method ?? ''} ${(req.url ?? '').split('?')[0]} takes no protocol upgrade: send it without the Upgrade header (only GET /v1/services/SERVICE/heartbeats/stream upgrades, to ${HEARTBEAT_PROTOCOL})`));
      return;
    }
    if (req.method !== 'GET' || (req.headers.upgrade ?? '').toLowerCase() !== HEARTBEAT_PROTOCOL) {
      refuse(socket, new TrellisError(ErrorCodes.BAD_REQUEST, `the heartbeat stream is opened with GET and the headers "Connection: Upgrade" and "Upgrade: ${HEARTBEAT_PROTOCOL}" (got ${req.method ?? ''}, Upgrade: ${JSON.stringify(req.headers.upgrade ?? '')}); see docs/api.md`));
      return;
    }
    let service: string;
    try {
      service = decodeURIComponent(match[1] ?? '');
    } catch {
      refuse(socket, new TrellisError(ErrorCodes.BAD_REQUEST, 'the URL is not valid: a "%" must start a percent-encoded byte such as %2F'));
      return;
    }
    let principal;
    try {
      principal = await options.authenticator.authenticate(bearer(req));
    } catch (err) {
      refuse(socket, toTrellisError(err));
      return;
    }
    if (!allows(principal, 'instance', service)) {
      refuse(socket, new TrellisError(ErrorCodes.PERMISSION_DENIED,
        `${describePrincipal(principal)} may not ${describeAccess('instance', service)}: it allows ${describeAllowed(principal)}`,
        { details: principal.kind === 'admin' ? {} : { tokenId: principal.tokenId } }));
      return;
    }
    if (socket.destroyed) return;
    const token = bearer(req);
    const recheck = async (): Promise<TrellisError | undefined> => {
      try {
        const now = await options.authenticator.authenticate(token);
        return allows(now, 'instance', service) ? undefined : new TrellisError(ErrorCodes.PERMISSION_DENIED, `${describePrincipal(now)} may no longer ${describeAccess('instance', service)}`);
      } catch (err) {
        return toTrellisError(err);
      }
    };
    serve(socket, service, principalKey(principal), head, recheck);
  };

  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrade(req, socket, head).catch((err: unknown) => {
      options.logger.error({ err }, 'heartbeat stream: the upgrade failed');
      refuse(socket, toTrellisError(err));
    });
  });
  app.addHook('preClose', async () => {
    for (const socket of open) socket.destroy();
    open.clear();
  });
}
