/**
 * Raw TCP relaying: bytes both ways with backpressure (pipe), half-close passed on
 * (a FIN from one side ends the other's writable side), and an error or reset on either
 * side destroys both.
 */
import { connect, type Socket } from 'node:net';

/** Relay between two connected sockets; `onClose` runs once both are closed. */
export function splice(client: Socket, upstream: Socket, onClose: () => void): void {
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
  client.pipe(upstream);
  upstream.pipe(client);
}

/** Connect to host:port; resolves with the connected socket or the connect error (never rejects). */
export function connectTcp(host: string, port: number, timeoutMs: number): Promise<Socket | Error> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Object.assign(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    const onError = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(err);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
