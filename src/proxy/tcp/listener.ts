/** A raw TCP listener: every accepted connection goes to `relay`; open connections are tracked for drain and close. */
import { createServer, type Socket } from 'node:net';
import type { HostPort } from '../../util/host-port.js';
import { bind, stopListening, type Front, type Listener } from '../listeners/listener.js';

export async function startTcpListener(name: string, at: HostPort, field: string, relay: (client: Socket) => void, front?: Front): Promise<Listener> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    relay(socket);
  });
  // With a front (mTLS), the front listens and hands its connections to the protocol server.
  const accepting = front?.((socket) => server.emit('connection', socket));
  const listening = accepting?.server ?? server;
  const address = await bind(listening, at, name, field);
  let stopped: Promise<void> | undefined;
  return {
    name,
    address,
    inFlight: () => sockets.size,
    stopAccepting() {
      stopped ??= stopListening(listening);
    },
    async close() {
      stopped ??= stopListening(listening);
      for (const socket of sockets) socket.destroy();
      accepting?.destroyPending();
      await stopped;
    },
  };
}
