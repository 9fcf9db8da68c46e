/** The `http1` protocol: HTTP/1.1 on raw net/tls sockets parsed by llhttp, with its own upstream pool (the default). */
import { createRawHttp1Server } from '../http1/raw-server.js';
import type { ProtocolModule } from '../protocols.js';
import { createRawHttpUpstream } from '../upstream/h1.js';

export const http1: ProtocolModule = Object.freeze({
  name: 'http1',
  server: createRawHttp1Server,
  upstream: createRawHttpUpstream,
});
