/**
 * `trellis` outside the repository: the package `npm pack` makes carries everything the CLI
 * needs (and no tests, benchmarks or CI scripts); `npm link` into a temporary global prefix
 * puts `trellis` on that prefix's bin, and from a directory outside the repository it prints
 * its version, runs a control plane (its data dir relative to that directory, the dashboard
 * served from the package) and `trellis check` passes against it, finding the admin token
 * through TRELLIS_DATA_DIR. The packed tarball, unpacked elsewhere, runs the same way.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/processes.js';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const dir = tempDir('global-install');
const prefix = join(dir.path, 'prefix');
const elsewhere = join(dir.path, 'elsewhere');
const servers: ChildProcess[] = [];
/** No token or data dir from the test's own environment; npm offline, quiet. */
const env: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TRELLIS_') && !k.toLowerCase().startsWith('npm_config_'))),
  NPM_CONFIG_PREFIX: prefix, NPM_CONFIG_OFFLINE: 'true', NPM_CONFIG_AUDIT: 'false', NPM_CONFIG_FUND: 'false', NPM_CONFIG_UPDATE_NOTIFIER: 'false',
};

before(() => { mkdirSync(elsewhere); mkdirSync(prefix); });
after(() => {
  for (const child of servers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  dir.remove();
});

/** `trellis server` started by `bin` in `cwd`, on port 0; resolves with its API URL. */
function startServer(bin: string, cwd: string): Promise<string> {
  const child = spawn(bin, ['server', '--data-dir', 'data', '--listen', '127.0.0.1:0', '--dns', 'off'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  servers.push(child);
  let output = '';
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line in 20 s:\n${output}`)), 20_000);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`trellis server exited with ${code}:\n${output}`)); });
    createInterface({ input: child.stdout }).on('line', (line) => {
      output += `${line}\n`;
      try {
        const parsed = JSON.parse(line) as { msg?: string; api?: string };
        if (parsed.msg === 'control plane ready' && parsed.api !== undefined) { clearTimeout(timer); resolvePromise(parsed.api); }
      } catch { /* not a log line */ }
    });
  });
}

/** From `cwd`: --version, a control plane, its dashboard, and `trellis check` with the token found through TRELLIS_DATA_DIR. */
async function works(bin: string, cwd: string): Promise<void> {
  const printed = await run(bin, ['--version'], { cwd, env });
  assert.equal(printed.stdout, `${version}\n`);
  const url = await startServer(bin, cwd);
  const page = await fetch(`${url}/dashboard/index.html`);
  assert.equal(page.status, 200, 'the dashboard is served from the installed package');
  const check = await run(bin, ['check', '--control-plane', url], { cwd, env: { ...env, TRELLIS_DATA_DIR: 'data' } });
  assert.match(check.stdout, /^ok   control plane reachable: /m, check.stdout);
  assert.match(check.stdout, /^ok   store writable: /m, check.stdout);
  assert.match(check.stdout, /\nall \d+ checks passed\n$/, check.stdout);
}

it('npm pack carries the CLI, its replica process and the dashboard, and nothing of the tests', async () => {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, env });
  const files = ((JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]?.files ?? []).map((f) => f.path);
  for (const needed of ['package.json', 'README.md', 'dist/src/cli/main.js', 'dist/src/mesh/replica-main.js', 'dashboard/index.html', 'docs/cli.md']) {
    assert.ok(files.includes(needed), `the package lacks ${needed}`);
  }
  const extra = files.filter((f) => /^(dist\/test|dist\/bench|test|bench|\.ci|src)\//.test(f) || f.endsWith('.tsbuildinfo'));
  assert.deepEqual(extra, []);
});

it('npm link into a global prefix: trellis runs from a directory outside the repository', async () => {
  await run('npm', ['link', '--ignore-scripts'], { cwd: root, env });
  const bin = join(prefix, 'bin', 'trellis');
  const which = await run('sh', ['-c', 'command -v trellis'], { cwd: elsewhere, env: { ...env, PATH: `${join(prefix, 'bin')}:${env['PATH'] ?? ''}` } });
  assert.equal(which.stdout.trim(), bin);
  await works(bin, elsewhere);
});

it('the packed tarball, unpacked outside the repository, runs the same way', async () => {
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir.path], { cwd: root, env });
  const tarball = join(dir.path, stdout.trim().split('\n').at(-1) ?? '');
  const unpacked = join(dir.path, 'unpacked');
  mkdirSync(unpacked);
  await run('tar', ['-xzf', tarball, '-C', unpacked]);
  // Its dependencies from the repository's node_modules (npm would fetch them: this machine is offline).
  symlinkSync(join(root, 'node_modules'), join(unpacked, 'package', 'node_modules'));
  const cwd = join(dir.path, 'tarball-user');
  mkdirSync(cwd);
  await works(join(unpacked, 'package', 'dist', 'src', 'cli', 'main.js'), cwd);
});
