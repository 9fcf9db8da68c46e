/**
 * `trellis check`: every check passes on a healthy mesh (one line each, exit 0), and with
 * the control plane down it fails with one clear line naming the URL and the fix, exit 1.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, sidecar, startApp, tearDown, type App } from '../proxy/helpers.js';

const dir = tempDir('check');
const sidecars: Sidecar[] = [];
const apps: App[] = [];
let server: ServerProcess;

before(async () => {
  server = await startServer(dir.path);
  const app = await startApp('one');
  apps.push(app);
  sidecars.push(await replica(server.url, 'orders', app, { telemetry: { report: '200ms' } }));
  const caller = await sidecar({ service: 'web', controlPlane: server.url, upstreams: ['orders'], telemetry: { report: '200ms' } });
  sidecars.push(caller);
  await endpointsReached(caller, 'orders', 1);
});
after(() => tearDown(dir, sidecars, apps));

it('passes on a healthy mesh, one line per check', async () => {
  const result = await waitFor('trellis check to pass', async () => {
    const r = await runCli(['check', '--control-plane', server.url]);
    return r.code === 0 ? r : undefined;
  }, { timeoutMs: 15_000, everyMs: 250 });
  for (const name of ['control plane reachable', 'store writable', 'sidecars connected', 'sidecars in sync', 'clock skew', 'certificates']) {
    assert.match(result.stdout, new RegExp(`^ok   ${name}: `, 'm'), result.stdout);
  }
  // Both sidecars run strict mTLS (the default): their certificates' time left is reported.
  assert.match(result.stdout, /^ok   certificates: 2 sidecar certificate\(s\) valid; the soonest \((orders|web)\/[\w-]+\) expires in [\d.]+h /m, result.stdout);
  const lines = result.stdout.trimEnd().split('\n');
  assert.equal(lines.at(-1), `all ${lines.length - 2} checks passed`, result.stdout);
  assert.doesNotMatch(result.stdout, /[√×✓✔✗]/, 'plain words: no check marks');
  assert.doesNotMatch(result.stdout, /Status check results/);
  const json = JSON.parse((await runCli(['check', '--json', '--control-plane', server.url])).stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean }> };
  assert.equal(json.ok, true);
  assert.ok(json.checks.length >= 7);
});

it('fails with a clear line when a sidecar stops reporting', async () => {
  const gone = sidecars.shift();
  await gone?.close(); // closed without deregistering: the instance stays, its sidecar is silent
  const result = await waitFor('trellis check to notice the silent sidecar', async () => {
    const r = await runCli(['check', '--control-plane', server.url]);
    return r.code === 1 ? r : undefined;
  }, { timeoutMs: 15_000, everyMs: 250 });
  assert.match(result.stdout, /^FAIL sidecars connected: no report from the sidecar of orders\/orders-one: is it running/m, result.stdout);
  assert.match(result.stdout, /\n\n1 of \d+ checks failed: sidecars connected\n$/, result.stdout);
});

it('fails with a clear line when the control plane is down', async () => {
  const url = server.url;
  await server.kill();
  const result = await runCli(['check', '--control-plane', url]);
  assert.equal(result.code, 1);
  const lines = result.stdout.trim().split('\n');
  assert.match(lines[0] ?? '', new RegExp(`^FAIL control plane reachable: cannot reach the control plane at ${url.replace(/\./g, '\\.')}: .*is \`trellis server\` running\\?`));
  assert.equal(lines.at(-1), '1 of 1 checks failed: control plane reachable');
  assert.equal(lines.filter((l) => l.startsWith('ok')).length, 0);
});
