/**
 * The TCP listener (RFC 1035 §4.2.2, RFC 7766): each message is preceded by its
 * length as 16 bits. A connection may carry many queries, split across or packed
 * into segments in any way; they are answered concurrently (up to a limit), each
 * reply as soon as it is ready. A connection that sends bytes which are not a
 * DNS query is closed; others are not affected.
 */
import net, { type Socket } from 'node:net';
import { messageOf } from '../errors.js';
import type { MessageSource } from './handler.js';
import type { ListenOptions, Listener } from './listener.js';

export interface TcpListenOptions extends ListenOptions {
  /** Close a connection after this long without traffic and with no query in flight. */
  idleTimeoutMs: number;
}

/** Concurrent queries per connection; beyond it the connection is not read until one completes. */
const MAX_IN_FLIGHT_PER_CONNECTION = 32;
const MAX_CONNECTIONS = 1024;
/** Replies queued for a client that does not read them; beyond it the connection is dropped. */
const MAX_UNSENT_BYTES = 1 << 20;
const LENGTH_PREFIX_BYTES = 2;

export async function listenTcp(options: TcpListenOptions): Promise<Listener> {
  const { address, port, logger } = options;
  const connections = new Set<Socket>();
  // allowHalfOpen: a client may shut down its side after its last query and still expect the answers.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    serveConnection(socket, options);
  });
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger?.warn({ err: messageOf(err) }, 'dns: TCP server error'));

  const bound = server.address();
  return {
    port: typeof bound === 'object' && bound !== null ? bound.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of connections) socket.destroy();
      }),
  };
}

/** Read length-prefixed queries from one connection and write back the replies. */
function serveConnection(socket: Socket, { handler, logger, idleTimeoutMs }: TcpListenOptions): void {
  const source: MessageSource = { transport: 'tcp', address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
  let buffered: Buffer = Buffer.alloc(0);
  let inFlight = 0;
  let peerEnded = false;

  const reply = (bytes: Buffer): void => {
    if (!socket.writable) return;
    const prefix = Buffer.alloc(LENGTH_PREFIX_BYTES);
    prefix.writeUInt16BE(bytes.length);
    socket.write(Buffer.concat([prefix, bytes]));
    if (socket.writableLength > MAX_UNSENT_BYTES) {
      logger?.debug?.(source, 'dns: TCP client does not read its answers, closing the connection');
      socket.destroy();
    }
  };

  const answer = (query: Buffer): void => {
    inFlight += 1;
    handler
      .handle(query, source)
      .then((result) => (result.kind === 'reply' ? reply(result.bytes) : socket.destroy()))
      .catch((err: unknown) => {
        logger?.warn({ ...source, err: messageOf(err) }, 'dns: TCP query failed, closing the connection');
        socket.destroy();
      })
      .finally(() => {
        inFlight -= 1;
        readFrames();
      });
  };

  /** Start a query for every complete frame, as long as the in-flight limit allows. */
  const readFrames = (): void => {
    if (socket.destroyed) return;
    while (inFlight < MAX_IN_FLIGHT_PER_CONNECTION && buffered.length >= LENGTH_PREFIX_BYTES) {
      const end = LENGTH_PREFIX_BYTES + buffered.readUInt16BE(0);
      if (buffered.length < end) break;
      const query = buffered.subarray(LENGTH_PREFIX_BYTES, end);
      buffered = buffered.subarray(end);
      answer(query);
    }
    if (inFlight >= MAX_IN_FLIGHT_PER_CONNECTION) socket.pause();
    else if (!peerEnded) socket.resume();
    if (peerEnded && inFlight === 0) socket.end();
  };

  socket.setTimeout(idleTimeoutMs);
  socket.on('timeout', () => {
    if (inFlight === 0) socket.destroy();
    else socket.setTimeout(idleTimeoutMs); // a slow lookup is not idleness: wait for its answer
  });
  socket.on('data', (chunk: Buffer) => {
    // Bounded: frames are at most 64 KiB + 2, and reading pauses while the in-flight limit is reached.
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    readFrames();
  });
  socket.on('end', () => {
    peerEnded = true;
    readFrames();
  });
  socket.on('error', (err) => logger?.debug?.({ ...source, err: messageOf(err) }, 'dns: TCP connection error'));
}
