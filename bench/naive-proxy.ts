/**
 * The reference of the data-plane benchmark for "what plain Node does": the naive
 * node:http + undici proxy the issue measured (~0.45× HAProxy) — one keep-alive Pool to
 * the upstream, hop-by-hop headers dropped, X-Forwarded-For added, bodies piped both ways,
 * no routing, balancing, retries or timeouts.
 *
 *     node dist/bench/naive-proxy.js http://127.0.0.1:UPSTREAM_PORT
 *
 * Prints `listening http://127.0.0.1:PORT` when ready.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect']);

const upstream = process.argv[2];
if (upstream === undefined) {
  process.stderr.write('usage: node dist/bench/naive-proxy.js UPSTREAM_ORIGIN\n');
  process.exit(2);
}
const pool = new Pool(upstream, { pipelining: 1, keepAliveTimeout: 4_000 });

function forwardable(headers: IncomingHttpHeaders, client: string | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  if (client !== undefined) out['x-forwarded-for'] = client;
  return out;
}

const server = createServer({ keepAliveTimeout: 5_000, noDelay: true }, (req, res) => {
  const hasBody = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined;
  pool.request({
    path: req.url ?? '/',
    method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
    headers: forwardable(req.headers, req.socket.remoteAddress),
    body: hasBody ? req : null,
  }).then(({ statusCode, headers, body }) => {
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
    res.writeHead(statusCode, out);
    body.pipe(res);
  }, () => {
    res.writeHead(502).end();
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
