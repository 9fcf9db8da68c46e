/**
 * What every listener of the sidecar offers, whatever its protocol: its bound address,
 * how much is in flight, stop accepting (draining) and close.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';
import { formatHostPort, type HostPort } from '../../util/host-port.js';
import type { ListenerStats } from '../http1/answer.js';

export interface Listener {
  /** `inbound`, `outbound`, `upstream payments`. */
  readonly name: string;
  /** The bound address (the real port when asked for port 0). */
  readonly address: HostPort;
  /** HTTP requests or TCP connections being served. */
  inFlight(): number;
  /** Counters of an HTTP listener (requests, client errors, responses broken off). */
  readonly stats?: ListenerStats;
  /** Stop taking new connections; those open are served until close(). */
  stopAccepting(): void;
  /** Close every connection now. */
  close(): Promise<void>;
}

/** Bind a server; a failure names the listener and the config field to change. */
export async function bind(server: HttpServer | NetServer, at: HostPort, name: string, field: string): Promise<HostPort> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(new TrellisError(ErrorCodes.LISTEN,
      `cannot listen on ${formatHostPort(at)} for the ${name} listener: ${messageOf(err)} (change ${field})`, { field, cause: err }));
    server.once('error', onError);
    server.listen(at.port, at.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === 'object' && address !== null ? { host: at.host, port: address.port } : at;
}

/** Resolves when the server has stopped listening (immediately if it was not). */
export function stopListening(server: HttpServer | NetServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
  });
}

/**
 * What binds in front of a listener's protocol server when connections need work before
 * the protocol sees them (mutual TLS on the inbound listener): it accepts, and passes each
 * ready connection to `deliver`.
 */
export type Front = (deliver: (socket: Duplex) => void) => { readonly server: NetServer; destroyPending(): void };

export interface Bound {
  /** What listens: the front when there is one, else the protocol server itself. */
  readonly listening: HttpServer | NetServer;
  /** The front, when there is one. */
  readonly accepting: ReturnType<Front> | undefined;
  readonly address: HostPort;
}

/**
 * Bind a listener's protocol server, or — with a front (mTLS) — the front, which listens and
 * hands its ready connections to the protocol server.
 */
export async function bindBehindFront(server: HttpServer | NetServer, front: Front | undefined, at: HostPort, name: string, field: string): Promise<Bound> {
  const accepting = front?.((socket) => server.emit('connection', socket));
  const listening = accepting?.server ?? server;
  return { listening, accepting, address: await bind(listening, at, name, field) };
}
