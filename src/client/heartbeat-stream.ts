/**
 * The client side of the keep-alive stream (src/control-plane/api/heartbeat-stream.ts): one
 * upgraded connection per sidecar carrying its heartbeats as NDJSON lines, each answered by an
 * ack in order. Opened on the first beat, reopened on the next beat after it drops; a beat
 * whose ack does not come within the timeout closes the connection and fails with
 * CONTROL_PLANE_UNREACHABLE, so the caller can send that heartbeat over plain HTTP instead.
 * A control plane that does not serve the stream (an older one) is not asked again for
 * {@link RETRY_UNSUPPORTED_MS}: heartbeats go over HTTP meanwhile.
 */
import type { Duplex } from 'node:stream';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import { remoteError } from './remote-error.js';

export const HEARTBEAT_PROTOCOL = 'trellis-heartbeats';
/** The path of a service's stream. */
export function heartbeatStreamPath(service: string): string {
  return `/v1/services/${encodeURIComponent(service)}/heartbeats/stream`;
}
/** After a control plane said it has no such stream, ask again after this long. */
export const RETRY_UNSUPPORTED_MS = 5 * 60_000;
/** A beat's ack (and the opening) within this, or the connection is taken as gone. */
export const DEFAULT_ACK_TIMEOUT_MS = 10_000;

export interface StreamAck {
  /** Ids whose heartbeat was taken. */
  readonly ok: number;
  /** Ids whose heartbeat failed, with the reason (INSTANCE_NOT_FOUND: register again). */
  readonly failed: ReadonlyArray<{ readonly id: string; readonly error: TrellisError }>;
}

/** Opens the upgraded connection (failing over between replicas); a refusal is a TrellisError. */
export type StreamOpener = () => Promise<{ socket: Duplex; head: Buffer }>;

interface Waiting {
  resolve(ack: StreamAck): void;
  reject(err: Error): void;
  readonly timer: NodeJS.Timeout;
  readonly socket: Duplex;
}

export class HeartbeatStream {
  readonly #open: StreamOpener;
  readonly #timeoutMs: number;
  #socket: Duplex | undefined;
  #opening: Promise<Duplex> | undefined;
  #seq = 0;
  readonly #waiting = new Map<number, Waiting>();
  #unsupportedUntil = 0;
  #closed = false;
  #buffered = '';
  #corked = false;

  constructor(open: StreamOpener, timeoutMs = DEFAULT_ACK_TIMEOUT_MS) {
    this.#open = open;
    this.#timeoutMs = timeoutMs;
  }

  /** The stream may be used now (false after close, and for a while after a control plane said it has none). */
  get available(): boolean {
    return !this.#closed && Date.now() >= this.#unsupportedUntil;
  }

  /** The connection is open. */
  get connected(): boolean {
    return this.#socket !== undefined;
  }

  /**
   * Heartbeats of `ids` (1 to 1,000 instances of the stream's service) in one line.
   * @throws TrellisError: the line's own error (RATE_LIMITED, VALIDATION), or CONTROL_PLANE_UNREACHABLE
   * (no connection, no ack in time, the connection dropped), or the refusal of the opening.
   */
  async beat(ids: readonly string[]): Promise<StreamAck> {
    if (this.#closed) throw new TrellisError(ErrorCodes.CONTROL_PLANE_UNREACHABLE, 'the heartbeat stream was closed');
    const socket = this.#socket ?? await this.#connect();
    const seq = (this.#seq += 1);
    return new Promise<StreamAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(seq);
        reject(new TrellisError(ErrorCodes.CONTROL_PLANE_UNREACHABLE, `no heartbeat ack on the keep-alive stream within ${this.#timeoutMs} ms: reconnecting`));
        this.#drop(socket);
      }, this.#timeoutMs);
      timer.unref();
      this.#waiting.set(seq, { resolve, reject, timer, socket });
      // Beats of one turn (many instances, or many callers) leave in one write.
      if (!this.#corked) {
        this.#corked = true;
        socket.cork();
        process.nextTick(() => { this.#corked = false; socket.uncork(); });
      }
      socket.write(`${JSON.stringify({ seq, ids })}\n`);
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#socket !== undefined) this.#drop(this.#socket);
  }

  #connect(): Promise<Duplex> {
    this.#opening ??= this.#openOnce().finally(() => { this.#opening = undefined; });
    return this.#opening;
  }

  async #openOnce(): Promise<Duplex> {
    let opened: { socket: Duplex; head: Buffer };
    try {
      opened = await this.#open();
    } catch (err) {
      if (err instanceof TrellisError && (err.code === ErrorCodes.ROUTE_NOT_FOUND || err.code === ErrorCodes.NOT_FOUND)) {
        this.#unsupportedUntil = Date.now() + RETRY_UNSUPPORTED_MS;
      }
      throw err;
    }
    const { socket, head } = opened;
    if (this.#closed) { socket.destroy(); throw new TrellisError(ErrorCodes.CONTROL_PLANE_UNREACHABLE, 'the heartbeat stream was closed'); }
    // A sidecar's process never waits for this connection to exit.
    (socket as Duplex & { unref?: () => void }).unref?.();
    socket.setEncoding('utf8');
    this.#buffered = '';
    socket.on('data', (chunk: string) => this.#read(socket, chunk));
    socket.on('error', () => this.#drop(socket));
    socket.on('close', () => this.#drop(socket));
    this.#socket = socket;
    if (head.length > 0) this.#read(socket, head.toString('utf8'));
    return socket;
  }

  #read(socket: Duplex, chunk: string): void {
    this.#buffered += chunk;
    let newline = this.#buffered.indexOf('\n');
    while (newline !== -1) {
      const line = this.#buffered.slice(0, newline).trim();
      this.#buffered = this.#buffered.slice(newline + 1);
      if (line !== '') this.#message(socket, line);
      newline = this.#buffered.indexOf('\n');
    }
  }

  #message(socket: Duplex, line: string): void {
    let message: { type?: unknown; seq?: unknown; ok?: unknown; failed?: unknown; error?: unknown };
    try {
      message = JSON.parse(line) as typeof message;
    } catch (err) {
      this.#drop(socket, new TrellisError(ErrorCodes.CONTROL_PLANE_UNREACHABLE, `the keep-alive stream sent a line that is not JSON (${messageOf(err)})`));
      return;
    }
    if (message.type !== 'ack' && message.type !== 'error') return; // "open", or a newer kind
    const waiting = typeof message.seq === 'number' ? this.#waiting.get(message.seq) : undefined;
    if (waiting === undefined) {
      // A whole-stream error (seq null: a line too long) ends it; an unknown seq is a late ack.
      if (message.type === 'error' && message.seq === null) this.#drop(socket, remoteError(0, message, 'the heartbeat stream ended'));
      return;
    }
    this.#waiting.delete(message.seq as number);
    clearTimeout(waiting.timer);
    if (message.type === 'error') { waiting.reject(remoteError(0, message, 'heartbeat refused')); return; }
    const failed = Array.isArray(message.failed) ? message.failed as Array<{ id?: unknown; error?: unknown }> : [];
    waiting.resolve({
      ok: typeof message.ok === 'number' ? message.ok : 0,
      failed: failed.map((f) => ({ id: typeof f.id === 'string' ? f.id : '', error: remoteError(0, f, 'heartbeat failed') })),
    });
  }

  /** The connection is gone: every beat waiting on it fails (the caller falls back to HTTP). */
  #drop(socket: Duplex, reason?: TrellisError): void {
    if (this.#socket === socket) this.#socket = undefined;
    socket.destroy();
    const error = reason ?? new TrellisError(ErrorCodes.CONTROL_PLANE_UNREACHABLE, 'the keep-alive stream to the control plane dropped');
    for (const [seq, waiting] of this.#waiting) {
      if (waiting.socket !== socket) continue;
      clearTimeout(waiting.timer);
      this.#waiting.delete(seq);
      waiting.reject(error);
    }
  }
}
