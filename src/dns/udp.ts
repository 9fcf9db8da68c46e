/**
 * The UDP listener: one datagram, one query. Replies go back to the sender;
 * nothing a peer sends can make the socket fail.
 */
import dgram from 'node:dgram';
import { messageOf } from '../errors.js';
import type { ListenOptions, Listener } from './listener.js';

export async function listenUdp({ address, family, port, handler, logger }: ListenOptions): Promise<Listener> {
  const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', fail);
    socket.bind({ address, port }, () => {
      socket.off('error', fail);
      resolve();
    });
  });
  socket.on('error', (err) => logger?.warn({ err: messageOf(err) }, 'dns: UDP socket error'));

  let closed = false;
  socket.on('message', (message, peer) => {
    handler
      .handle(message, { transport: 'udp', address: peer.address, port: peer.port })
      .then((result) => {
        const reply = result.kind === 'reply' ? result.bytes : result.reply;
        if (reply === undefined || closed) return;
        // send() throws at once for some peers (port 0): the catch below logs it.
        socket.send(reply, peer.port, peer.address, (err) => {
          if (err) logger?.debug?.({ peer: peer.address, err: messageOf(err) }, 'dns: cannot send a UDP reply');
        });
      })
      .catch((err: unknown) => logger?.debug?.({ peer: peer.address, err: messageOf(err) }, 'dns: cannot send a UDP reply'));
  });

  return {
    port: socket.address().port,
    close: () => {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
