/**
 * The seed's "Hello, World!" HTTP server, one replica of my-service. It listens on PORT
 * (given by `trellis run` / `trellis up`) and names its instance in every answer, so the
 * load-balancing distribution is visible:
 *
 *   GET /         → 200 "Hello, World! from my-service-2" (+ header x-instance-id)
 *   GET /healthz  → 200 "ok"
 *
 * On SIGTERM it stops accepting, finishes what it is serving and exits 0.
 */
import { createServer } from 'node:http';

const port = Number(process.env['PORT'] ?? 8080);
const host = process.env['HOST'] ?? '127.0.0.1';
const instance = process.env['TRELLIS_INSTANCE_ID'] ?? `hello-${process.pid}`;

const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'x-instance-id': instance });
  res.end(`Hello, World! from ${instance}\n`);
});

server.listen(port, host, () => {
  process.stdout.write(`hello server ${instance} listening on ${host}:${port}\n`);
});

process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
