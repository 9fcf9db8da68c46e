/**
 * The CLI without a token: it names the admin-token file it looked for (absolute, and whether it
 * came from TRELLIS_DATA_DIR or the default) and says how to give it one; with TRELLIS_DATA_DIR
 * pointing at the control plane's data dir the same call works.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { CLI, killAll, startServer, tempDir, type RunResult, type ServerProcess } from '../helpers/processes.js';

const dir = tempDir('token-missing');
const data = join(dir.path, 'data');
const elsewhere = join(dir.path, 'elsewhere');
let server: ServerProcess;
before(async () => {
  mkdirSync(elsewhere);
  server = await startServer(data, ['--dns', 'off']);
});
after(() => { killAll(); dir.remove(); });

/** The CLI run from `cwd` with no token variable at all. */
function cli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<RunResult> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['TRELLIS_ADMIN_TOKEN', 'TRELLIS_TOKEN', 'TRELLIS_DATA_DIR'].includes(k)));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const HOW = 'Set TRELLIS_DATA_DIR to the data dir of the control plane (`trellis server --data-dir`; `trellis up` prints it), '
  + 'or TRELLIS_TOKEN to a token (`trellis token create --read-only` makes one) [TRELLIS_ERR_TOKEN_MISSING]\n';

it('names the default file it looked for, relative to the current directory, and how to fix it', async () => {
  const result = await cli(['services', '--control-plane', server.url], elsewhere);
  assert.equal(result.code, 1, result.stdout);
  assert.equal(result.stderr, `trellis: no token for the control plane's API: TRELLIS_ADMIN_TOKEN and TRELLIS_TOKEN are not set, and the admin token file ${join(elsewhere, '.trellis/data/admin-token')} (the default data dir .trellis/data, relative to this directory) does not exist. ${HOW}`);
});

it('names the file TRELLIS_DATA_DIR pointed at', async () => {
  const wrong = join(dir.path, 'not-the-data-dir');
  const result = await cli(['instances', 'web', '--control-plane', server.url], elsewhere, { TRELLIS_DATA_DIR: wrong });
  assert.equal(result.code, 1, result.stdout);
  assert.equal(result.stderr, `trellis: no token for the control plane's API: TRELLIS_ADMIN_TOKEN and TRELLIS_TOKEN are not set, and the admin token file ${join(wrong, 'admin-token')} (TRELLIS_DATA_DIR=${wrong}) does not exist. ${HOW}`);
});

it('says the same in trellis check, as its failing line', async () => {
  const result = await cli(['check', '--control-plane', server.url], elsewhere);
  assert.equal(result.code, 1);
  assert.match(result.stdout, /^FAIL control plane reachable: no token for the control plane's API: .* the admin token file .*\/elsewhere\/\.trellis\/data\/admin-token /m, result.stdout);
});

it('works once TRELLIS_DATA_DIR names the control plane\'s data dir', async () => {
  const result = await cli(['services', '--control-plane', server.url], elsewhere, { TRELLIS_DATA_DIR: data });
  assert.equal(result.code, 0, result.stderr);
});
