/**
 * Readiness that cannot lie: a port answered by someone else never makes an app ready, and an
 * app that exits before it is ready is told which port it was given and who holds it.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { killAll, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminClient, tokenEnv } from '../helpers/tokens.js';

const hello = resolve(dirname(fileURLToPath(import.meta.url)), '../../examples/hello/server.js');
const dir = tempDir('readiness');
let server: ServerProcess;
let squatter: Server;
let port = 0;

before(async () => {
  server = await startServer(join(dir.path, 'data'), ['--dns', 'off']);
  // Someone else holds the port (this test process): it accepts connections like any server.
  squatter = createServer((socket) => socket.on('error', () => undefined).end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
  await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
  const address = squatter.address();
  port = typeof address === 'object' && address !== null ? address.port : 0;
});
after(() => { squatter.close(); killAll(); dir.remove(); });

async function run(args: string[]): ReturnType<typeof runCli> {
  return runCli(args, await tokenEnv(args));
}

describe('readiness', () => {
  it('an app that loses the bind exits before ready, and the message names its port and who holds it', async () => {
    const result = await run(['run', '--service', 'second', '--id', 'second-1', '--port', String(port), '--control-plane', server.url, '--', process.execPath, hello]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`^trellis run: second-1: the app exited with code 1 before it was ready \\(it was never registered\\); it was given port ${port} in \\$PORT, and port ${port} is held by pid ${process.pid} \\(node\\) — stop it or give this app another port$`, 'm'));
    assert.doesNotMatch(result.stderr, /ready —/);
    assert.deepEqual((await adminClient(server.url).instances('second')).instances, []);
  });

  it('a port answered by another process never makes the app ready', async () => {
    // The app runs but never listens; the squatter answers every probe on its port.
    const result = await run(['run', '--service', 'idle', '--id', 'idle-1', '--port', String(port), '--health-path', '/healthz', '--ready-timeout', '1500ms',
      '--control-plane', server.url, '--', process.execPath, '-e', 'setInterval(() => {}, 1000)']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`idle-1: the app was not ready within 1.5s \\(waited for GET /healthz on port ${port} to answer 2xx; last probe: port ${port} answers, but its listener is not the app's: it is held by pid ${process.pid} \\(node\\)\\)`));
    assert.doesNotMatch(result.stderr, /ready —/);
    assert.deepEqual((await adminClient(server.url).instances('idle')).instances, []);
  });

  it('the ready line names the sidecar admin/metrics address', async () => {
    const result = await run(['run', '--service', 'once', '--id', 'once-1', '--control-plane', server.url, '--', process.execPath, '-e',
      "require('node:http').createServer((q, s) => s.end('x')).listen(process.env.PORT, '127.0.0.1', function () { setTimeout(() => this.close(), 1500); })"]);
    assert.equal(result.code, 0, result.stderr);
    const ready = /^trellis run: once-1 ready — app 127\.0\.0\.1:\d+ \(pid \d+\), .*, admin\/metrics http:\/\/(127\.0\.0\.1:\d+)\/metrics$/m.exec(result.stderr);
    assert.ok(ready !== null, result.stderr);
  });
});
