/**
 * Readiness that cannot lie: a port answered by someone else never makes an app ready, and an
 * app that exits before it is ready is told which port it was given and who holds it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { killAll, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminClient, tokenEnv } from '../helpers/tokens.js';
import { describeHolder, listenerOwner } from '../../src/run/listener-owner.js';

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
const children: ChildProcess[] = [];
/** Started in their own process group (a child and its grandchild): killed as a group. */
const groups: ChildProcess[] = [];
after(() => {
  squatter.close();
  for (const c of children) c.kill('SIGKILL');
  for (const g of groups) {
    g.stdout?.destroy();
    try { process.kill(-(g.pid ?? 0), 'SIGKILL'); } catch { /* gone */ }
  }
  killAll();
  dir.remove();
});

async function run(args: string[]): ReturnType<typeof runCli> {
  return runCli(args, await tokenEnv(args));
}

describe('readiness', () => {
  it('an app given a port someone else holds is refused before it starts, naming the holder', async () => {
    const result = await run(['run', '--service', 'second', '--id', 'second-1', '--port', String(port), '--control-plane', server.url, '--', process.execPath, hello]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`^trellis: second-1: port ${port} is already in use by pid ${process.pid} \\(.*readiness\\.test\\.js\\); the app could not listen on it\\. Stop that process, or pick another --port \\[TRELLIS_ERR_LISTEN\\]$`, 'm'));
    assert.doesNotMatch(result.stderr, /ready —/);
    assert.deepEqual((await adminClient(server.url).instances('second')).instances, []);
  });

  it('a port answered by another process is not the app\'s listener; the app\'s own is', async () => {
    // A real child that never listens: the squatter (this process) holds the port.
    const idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(idle);
    assert.deepEqual(listenerOwner(idle.pid ?? 0, port), { kind: 'other', pid: process.pid, command: 'node' });
    assert.equal(describeHolder({ kind: 'other', pid: process.pid, command: 'node' }), `pid ${process.pid} (node)`);
    // A child that listens itself (through a grandchild: the process tree counts).
    const own = spawn(process.execPath, ['-e', "const c = require('node:child_process').spawn(process.execPath, ['-e', \"require('node:net').createServer().listen(0, '127.0.0.1', function () { console.log(this.address().port) })\"], { stdio: ['ignore', 'inherit', 'inherit'] }); setInterval(() => {}, 1000)"], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    groups.push(own);
    const ownPort = await new Promise<number>((resolve) => own.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    const deadline = Date.now() + 5_000;
    let owner = listenerOwner(own.pid ?? 0, ownPort);
    while (owner.kind !== 'app' && Date.now() < deadline) owner = listenerOwner(own.pid ?? 0, ownPort);
    assert.deepEqual(owner, { kind: 'app' });
  });

  it('the ready line names the sidecar admin/metrics address', async () => {
    const result = await run(['run', '--service', 'once', '--id', 'once-1', '--control-plane', server.url, '--', process.execPath, '-e',
      "require('node:http').createServer((q, s) => s.end('x')).listen(process.env.PORT, '127.0.0.1', function () { setTimeout(() => this.close(), 1500); })"]);
    assert.equal(result.code, 0, result.stderr);
    const ready = /^trellis run: once-1 ready — app 127\.0\.0\.1:\d+ \(pid \d+\), .*, admin\/metrics http:\/\/(127\.0\.0\.1:\d+)\/metrics$/m.exec(result.stderr);
    assert.ok(ready !== null, result.stderr);
  });
});
