/**
 * `trellis run`: the app gets PORT and the TRELLIS_* variables, the instance registers only
 * once the app is ready, and when the app exits the sidecar drains and `trellis run` exits
 * with the app's exit code.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ControlPlaneClient } from '../../src/client/control-plane.js';
import { killAll, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminClient, tokenEnv } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { killSpawned, spawnCli } from './spawn.js';

const GATED_APP = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/gated-app.js');
const dir = tempDir('run');
let server: ServerProcess;
let client: ControlPlaneClient;

before(async () => {
  server = await startServer(join(dir.path, 'data'), ['--dns', 'off']);
  client = adminClient(server.url);
});
after(() => { killSpawned(); killAll(); dir.remove(); });

/** `trellis run` with a join token for its service, in TRELLIS_TOKEN as an operator would pass it. */
async function run(args: string[]): ReturnType<typeof runCli> {
  return runCli(args, await tokenEnv(args));
}
async function spawnRun(args: string[]): Promise<ReturnType<typeof spawnCli>> {
  return spawnCli(args, { env: await tokenEnv(args) });
}

interface ReadyLine { event: 'ready'; id: string; appPort: number; appPid: number; inbound: string }

describe('trellis run', () => {
  it('registers the instance only after the app is ready, and deregisters it on SIGTERM', async () => {
    // --mtls permissive: this test calls the inbound listener itself, without a mesh certificate.
    const run = await spawnRun(['run', '--service', 'gated', '--id', 'gated-1', '--health-path', '/healthz', '--json', '--mtls', 'permissive', '--control-plane', server.url, '--', process.execPath, GATED_APP]);
    const port = Number((await run.line(/listening on \d+/)).match(/listening on (\d+)/)?.[1]);
    await run.line(/healthz 503/);
    // The app was probed and is not ready: nothing may be registered yet.
    assert.deepEqual((await client.instances('gated')).instances, []);
    assert.equal(run.lines.some((l) => l.includes('"event":"ready"')), false);

    await fetch(`http://127.0.0.1:${port}/open`).then((r) => r.text());
    const ready = JSON.parse(await run.line(/"event":"ready"/)) as ReadyLine;
    assert.equal(ready.appPort, port);
    const instance = await waitFor('gated-1 registered and passing', async () =>
      (await client.instances('gated')).instances.find((i) => i.id === 'gated-1' && i.status === 'passing'));
    assert.equal(`${instance.address}:${instance.port}`, ready.inbound);
    // Through the sidecar's inbound listener to the app.
    assert.equal(await (await fetch(`http://${ready.inbound}/`)).text(), 'hello from gated-1');

    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.output());
    assert.deepEqual((await client.instances('gated')).instances, []);
  });

  it('exits with the exit code of a one-shot app after its sidecar drained', async () => {
    const run = await spawnRun(['run', '--service', 'job', '--json', '--mtls', 'permissive', '--control-plane', server.url, '--', process.execPath, GATED_APP]);
    const port = Number((await run.line(/listening on \d+/)).match(/listening on (\d+)/)?.[1]);
    await fetch(`http://127.0.0.1:${port}/open`).then((r) => r.text());
    const ready = JSON.parse(await run.line(/"event":"ready"/)) as ReadyLine;
    await waitFor('the job registered', async () => (await client.instances('job')).instances.length === 1);
    assert.equal(await (await fetch(`http://${ready.inbound}/exit?code=7`)).text(), 'bye');
    assert.equal(await run.exited, 7, run.output());
    assert.match(run.output(), /"event":"exited","id":"job-[0-9a-f]+","code":7/);
    assert.deepEqual((await client.instances('job')).instances, []);
  });

  it('ends by itself when the command finishes before it ever listens, with its exit code', async () => {
    const ok = await run(['run', '--service', 'job', '--control-plane', server.url, '--', 'sh', '-c', 'exit 0']);
    assert.equal(ok.code, 0, ok.stderr);
    const failed = await run(['run', '--service', 'job', '--control-plane', server.url, '--', 'sh', '-c', 'echo oops; exit 3']);
    assert.equal(failed.code, 3, failed.stderr);
    assert.match(failed.stdout, /^\[job-[0-9a-f]+\] oops$/m);
    assert.match(failed.stderr, /the app exited with code 3 before it was ready \(it was never registered\)/);
    const missing = await run(['run', '--service', 'job', '--control-plane', server.url, '--', 'no-such-program-here']);
    assert.equal(missing.code, 127, missing.stderr);
    assert.match(missing.stderr, /could not be started: spawn no-such-program-here ENOENT/);
  });

  it('gives the app PORT and the TRELLIS_* variables', async () => {
    const result = await run(['run', '--service', 'envcheck', '--id', 'envcheck-1', '--upstream', 'my-service', '--upstream', 'other-svc:0', '--control-plane', server.url, '--',
      'sh', '-c', 'echo "PORT=$PORT ID=$TRELLIS_INSTANCE_ID SVC=$TRELLIS_SERVICE CP=$TRELLIS_CONTROL_PLANE OUT=$TRELLIS_OUTBOUND UP=$TRELLIS_UPSTREAM_MY_SERVICE"']);
    assert.equal(result.code, 2, 'LOCALPORT 0 is refused');
    assert.match(result.stderr, /--upstream LOCALPORT must be between 1 and 65535/);
    const good = await run(['run', '--service', 'envcheck', '--id', 'envcheck-1', '--upstream', 'my-service', '--control-plane', server.url, '--',
      'sh', '-c', 'echo "PORT=$PORT ID=$TRELLIS_INSTANCE_ID SVC=$TRELLIS_SERVICE CP=$TRELLIS_CONTROL_PLANE OUT=$TRELLIS_OUTBOUND UP=$TRELLIS_UPSTREAM_MY_SERVICE"']);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, new RegExp(`PORT=\\d+ ID=envcheck-1 SVC=envcheck CP=${server.url} OUT=http://127\\.0\\.0\\.1:\\d+ UP=http://127\\.0\\.0\\.1:\\d+`));
  });

  it('fails with a clear error when the app never gets ready, and stops it', async () => {
    const result = await run(['run', '--service', 'slow', '--ready-timeout', '500ms', '--stop-grace', '1s', '--control-plane', server.url, '--', 'sleep', '30']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /the app was not ready within 500ms \(waited for port \d+ to accept connections; .*\) — does it listen on \$PORT\?/);
    assert.deepEqual((await client.instances('slow')).instances, []);
  });
});
