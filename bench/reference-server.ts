/** The reference for the registry benchmarks: a bare node:http server that reads a JSON
 * body and answers a small JSON document — the HTTP ceiling on this machine, no store. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length === 0 ? {} : (JSON.parse(Buffer.concat(chunks).toString()) as object);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true, echoed: Object.keys(body).length }));
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
