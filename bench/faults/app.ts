/**
 * The lab's app: answers every request (GET or POST, whose body it reads) with its name, on
 * 127.0.0.1 of its host (its sidecar's side), and prints its port. SIGUSR2 turns a delay of
 * `DELAY_MS` before each answer on and off: the suite's "200 ms latency" when the kernel has no
 * netem to delay packets with.
 *
 *   node app.js NAME
 */
import { createServer } from 'node:http';

const DELAY_MS = 200;
const name = process.argv[2] ?? 'app';
let delayed = false;
process.on('SIGUSR2', () => { delayed = !delayed; });

const server = createServer((req, res) => {
  req.resume();
  req.once('end', () => {
    const answer = (): void => { res.writeHead(200, { 'content-type': 'text/plain' }).end(name); };
    if (delayed) setTimeout(answer, DELAY_MS);
    else answer();
  });
});
server.keepAliveTimeout = 10_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
