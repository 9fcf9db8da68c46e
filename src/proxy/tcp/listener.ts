/** A raw TCP listener: every accepted connection goes to `relay`; open connections are tracked for drain and close. */
import { createServer, type Socket } from 'node:net';
import type { HostPort } from '../../util/host-port.js';
import { bindBehindFront, stopListening, type Front, type Listener } from '../listeners/listener.js';

export async function startTcpListener(name: string, at: HostPort, field: string, relay: (client: Socket) => void, front?: Front): Promise<Listener> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    relay(socket);
  });
  const { listening, accepting, address } = await bindBehindFront(server, front, at, name, field);
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
