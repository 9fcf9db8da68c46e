/**
 * Raw TCP relaying (and upgraded HTTP connections): bytes both ways with backpressure
 * (pipe), half-close passed on (a FIN from one side ends the other's writable side), an
 * error or reset on either side destroys both, and a side that closed takes the other
 * with it (once what it sent has been written on).
 */
import { connect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { CancelSignal } from '../cancel.js';

/** When `from` closes: the other side goes too — at once if `from` was cut off, else once its writes are done. */
function follow(from: Duplex, to: Duplex): void {
  from.once('close', () => {
    if (to.destroyed) return;
    if (!from.readableEnded || to.writableFinished) to.destroy();
    else to.once('finish', () => to.destroy());
  });
}

/** Relay between two connected sockets; `onClose` runs once both are closed. */
export function splice(client: Duplex, upstream: Duplex, onClose: () => void): void {
  let closed = 0;
  const closeOne = (): void => {
    closed += 1;
    if (closed === 2) onClose();
  };
  const fail = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.once('error', fail).once('close', closeOne);
  upstream.once('error', fail).once('close', closeOne);
  follow(client, upstream);
  follow(upstream, client);
  client.pipe(upstream);
  upstream.pipe(client);
}

/**
 * Resolve with `socket` once it emits `ready` (connect / secureConnect), or with the error
 * it fails with, a timeout error, or an abort error when `signal` aborts first; the socket
 * is destroyed on failure. Never rejects.
 */
function whenConnected<S extends Socket>(socket: S, ready: 'connect' | 'secureConnect', timeoutMs: number, what: string, signal?: CancelSignal): Promise<S | Error> {
  return new Promise((resolve) => {
    const fail = (err: Error): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(err);
    };
    const onAbort = (): void => fail(Object.assign(new Error(`${what} was cancelled`), { code: 'ABORT_ERR' }));
    const timer = setTimeout(() => fail(Object.assign(new Error(`${what} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
    socket.once('error', fail);
    socket.once(ready, () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      resolve(socket);
    });
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Connect to host:port; resolves with the connected socket or the connect error (never rejects). */
export function connectTcp(host: string, port: number, timeoutMs: number, signal?: CancelSignal): Promise<Socket | Error> {
  return whenConnected(connect({ host, port, allowHalfOpen: true, noDelay: true }), 'connect', timeoutMs, `connect to ${host}:${port}`, signal);
}

/** Wait for a TLS connection's handshake; resolves with the socket or the error (never rejects). */
export function connectTls(socket: TLSSocket, timeoutMs: number, signal?: CancelSignal): Promise<TLSSocket | Error> {
  return whenConnected(socket, 'secureConnect', timeoutMs, 'TLS connect', signal);
}
