/**
 * What a sidecar process loads (issue 12's memory goals): `trellis proxy` imports its own
 * command and none of the CLI's other verbs, prom-client's four classes without its index
 * (whose default metrics pull in @opentelemetry/api), and no pino transport worker or
 * pretty-printer. A real `trellis proxy` against a real control plane, with a module recorder
 * given on its command line (--import): every ES module resolved, every CommonJS one cached.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { killProxies, startProxy } from './proxy-process.js';

const recorder = fileURLToPath(new URL('./fixtures/record-modules.js', import.meta.url));
const dir = tempDir('trellis-sidecar-modules-');
let server: ServerProcess;
let esm: string[];
let cjs: string[];

before(async () => {
  server = await startServer(join(dir.path, 'cp'));
  const out = join(dir.path, 'modules.txt');
  const proxy = await startProxy(['--mtls', 'off', '--service', 'shop', '--control-plane', server.url, '--upstream', 'orders:0'],
    { NODE_OPTIONS: `--import=${recorder}`, TRELLIS_TEST_MODULES_OUT: out });
  proxy.child.kill('SIGUSR2');
  const lines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  cjs = await waitFor('the recorder to write the CommonJS modules', () => existsSync(`${out}.cjs`) && lines(`${out}.cjs`));
  esm = lines(out);
  await proxy.kill('SIGTERM');
});

after(async () => {
  killProxies();
  await server?.kill();
  dir.remove();
});

it('loads the proxy command and no other verb of the CLI', () => {
  const commands = esm.filter((url) => url.includes('/src/cli/commands/'));
  assert.ok(commands.some((url) => url.endsWith('/src/cli/commands/proxy.js')), `the proxy command is among what was loaded (${esm.length} ES modules recorded)`);
  assert.deepEqual(commands.filter((url) => !url.endsWith('/src/cli/commands/proxy.js')), [], 'no other CLI command module is loaded by a sidecar');
  assert.deepEqual(esm.filter((url) => /\/src\/(control-plane|store|mesh)\//.test(url)).filter((url) => !/\/(listener-limits|bootstrap|selection|options)\.js$/.test(url)), [],
    'no control-plane, store or mesh module beyond the shared constants');
});

it('loads prom-client without its index, and no OpenTelemetry package (export is off)', () => {
  const prom = cjs.filter((path) => path.includes('/node_modules/prom-client/'));
  assert.ok(prom.some((path) => path.endsWith('/prom-client/lib/registry.js')), `prom-client's registry is loaded (${cjs.length} CommonJS modules recorded)`);
  assert.deepEqual(prom.filter((path) => path.endsWith('/prom-client/index.js') || path.includes('/lib/metrics/')), [], "prom-client's index and default metrics are not loaded");
  assert.deepEqual(cjs.filter((path) => path.includes('/@opentelemetry/')), [], 'no @opentelemetry package is loaded');
});

it('logs through pino with no transport worker, pretty-printer or thread-stream instance', () => {
  assert.ok(cjs.some((path) => path.includes('/node_modules/pino/')), 'pino is loaded (the logger)');
  assert.deepEqual(cjs.filter((path) => /\/(pino-pretty|pino-abstract-transport)\//.test(path) || path.endsWith('/thread-stream/lib/worker.js')), [],
    'no pretty-printer, transport or transport worker is loaded');
});
