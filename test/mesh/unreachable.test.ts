/**
 * `trellis run` and `trellis proxy` with the control plane not reachable at start: one coded
 * line naming the URL and exit 1 — never a silent exit 13 — and with --wait, retries with
 * back-off until it comes, then start.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { freePort } from '../../src/run/free-port.js';
import { killAll, runCli, startServer, tempDir } from '../helpers/processes.js';
import { tokenEnv } from '../helpers/tokens.js';
import { killSpawned, spawnCli } from './spawn.js';

describe('control plane unreachable at start', () => {
  const dir = tempDir('unreachable');
  after(() => { killSpawned(); killAll(); dir.remove(); });

  for (const command of [['run', '--service', 'web', '--', process.execPath, '-e', 'setTimeout(() => {}, 60000)'], ['proxy', '--service', 'web']]) {
    it(`trellis ${command[0]}: one line naming the URL, exit 1`, async () => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const result = await runCli([...command.slice(0, 1), '--control-plane', url, ...command.slice(1)], { TRELLIS_TOKEN: 'trellis-join.x' });
      assert.equal(result.code, 1, result.stderr);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] ?? '', new RegExp(`^trellis: cannot reach the control plane at ${url}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port} .*; or pass --wait to wait for it \\[TRELLIS_ERR_CONTROL_PLANE_UNREACHABLE\\]$`));
    });
  }

  it('trellis proxy --wait: waits with back-off, then starts once the control plane is up', async () => {
    const port = await freePort();
    const listen = ['--listen', `127.0.0.1:${port}`, '--dns', 'off'];
    // A control plane that existed (its token is valid), now stopped.
    const first = await startServer(dir.path, listen);
    const args = ['proxy', '--wait', '--service', 'web', '--mtls', 'off', '--control-plane', first.url];
    const env = await tokenEnv(args);
    await first.kill('SIGTERM');
    const proxy = spawnCli(args, { env });
    await proxy.line(new RegExp(`^trellis proxy: waiting for the control plane at ${first.url} \\(try 2: not reachable\\); next try in 1s$`), 30_000);
    await startServer(dir.path, listen);
    await proxy.line(new RegExp(`^trellis proxy: the control plane at ${first.url} answers; starting$`), 30_000);
    await proxy.line(/sidecar ready/, 30_000);
  });
});
