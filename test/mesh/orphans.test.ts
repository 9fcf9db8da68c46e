/**
 * Apps die with their sidecar: kill -9 of `trellis run` (or of a replica process of `trellis up`)
 * leaves no app behind — it is gone within 1 s, its port free; and a `trellis run --port P`
 * whose port an earlier app still holds names that process.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/run/free-port.js';
import { killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { tokenEnv } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { killSpawned, meshSummary, spawnCli } from './spawn.js';

const here = dirname(fileURLToPath(import.meta.url));
const GATED_APP = join(here, 'fixtures', 'gated-app.js');
const hello = resolve(here, '../../examples/hello');
/** An app that ignores SIGTERM: only the watchdog's SIGKILL ends it. */
const STUBBORN = `process.on('SIGTERM', () => {}); require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');`;

/** Dead: no such process, or a zombie waiting for its reaper. */
function dead(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return true;
  try { return / [ZX] /.test(readFileSync(stat, 'utf8').replace(/\(.*\)/, '()')); } catch { return true; }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolvePromise(false); });
    socket.once('error', () => resolvePromise(true));
  });
}

interface ReadyLine { event: 'ready'; appPid: number; appPort: number }

describe('apps die with their sidecar', () => {
  const dir = tempDir('orphans');
  let server: ServerProcess;
  const strays: number[] = [];
  const extra: ChildProcess[] = [];

  before(async () => { server = await startServer(dir.path, ['--dns', 'off']); });
  after(() => {
    for (const child of extra) child.kill('SIGKILL');
    killSpawned(strays);
    killAll();
    dir.remove();
  });

  for (const [name, command] of [['an app', [process.execPath, GATED_APP]], ['an app that ignores SIGTERM', [process.execPath, '-e', STUBBORN]]] as const) {
    it(`kill -9 of trellis run: ${name} is gone within 1 s and its port is free`, async () => {
      const args = ['run', '--service', 'orphan', '--json', '--mtls', 'permissive', '--control-plane', server.url, '--', ...command];
      const run = spawnCli(args, { env: await tokenEnv(args) });
      const ready = JSON.parse(await run.line(/"event":"ready"/)) as ReadyLine;
      strays.push(ready.appPid);
      assert.equal(dead(ready.appPid), false);
      assert.equal(await portFree(ready.appPort), false, 'the app listens');
      run.child.kill('SIGKILL');
      await run.exited;
      const killedAt = Date.now();
      await waitFor(`app pid ${ready.appPid} to die`, () => dead(ready.appPid), { timeoutMs: 1_000, everyMs: 10 });
      await waitFor(`port ${ready.appPort} to be free`, () => portFree(ready.appPort), { timeoutMs: Math.max(50, 1_000 - (Date.now() - killedAt)), everyMs: 10 });
      process.stdout.write(`# ${name}: gone ${Date.now() - killedAt} ms after kill -9 of trellis run\n`);
    });
  }

  it('a trellis run whose --port is still held by an earlier app names that process', async () => {
    const port = await freePort();
    // What an orphan looks like: an app started by trellis run (its TRELLIS_* environment), still listening.
    const orphan = spawn(process.execPath, [GATED_APP], {
      env: { ...process.env, PORT: String(port), TRELLIS_SERVICE: 'web', TRELLIS_INSTANCE_ID: 'web-old' }, stdio: ['ignore', 'pipe', 'ignore'],
    });
    extra.push(orphan);
    await waitFor('the orphan to listen', async () => !(await portFree(port)));
    const args = ['run', '--service', 'web', '--id', 'web-new', '--port', String(port), '--mtls', 'permissive', '--control-plane', server.url, '--', process.execPath, GATED_APP];
    const run = spawnCli(args, { env: await tokenEnv(args) });
    const code = await run.exited;
    assert.notEqual(code, 0);
    assert.match(run.output(), new RegExp(`web-new: port ${port} is already in use by pid ${orphan.pid} \\(.*gated-app\\.js\\), the app of web instance web-old left behind by an earlier trellis run or up — stop it with \`kill ${orphan.pid}\``));
    assert.match(run.output(), /TRELLIS_ERR_LISTEN/);
  });

  it('kill -9 of a replica process of trellis up: its app is gone within 1 s', async () => {
    const file = join(dir.path, 'mesh.yaml');
    writeFileSync(file, `services:\n  web:\n    replicas: 1\n    command: ["${process.execPath}", "${join(hello, 'server.js')}"]\n    health: { http: /healthz, interval: 500ms }\n`);
    const up = spawnCli(['up', file, '--json', '--listen', '127.0.0.1:0', '--dns', 'off']);
    const summary = await meshSummary(up);
    const replica = summary.replicas[0];
    assert.ok(replica !== undefined);
    strays.push(replica.pid, replica.appPid);
    process.kill(replica.pid, 'SIGKILL');
    const killedAt = Date.now();
    await waitFor(`app pid ${replica.appPid} to die`, () => dead(replica.appPid), { timeoutMs: 1_000, everyMs: 10 });
    process.stdout.write(`# up replica: app gone ${Date.now() - killedAt} ms after kill -9 of its replica process\n`);
    up.child.kill('SIGINT');
    await up.exited;
  });
});
