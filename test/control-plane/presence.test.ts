/**
 * Fast failure detection (src/health/presence.ts): kill -9 of a sidecar process (no
 * deregistration, its heartbeat lease still valid for seconds) marks its instance critical
 * well within a second or so — not after the TTL — while a sibling sidecar stays passing; a
 * new sidecar under the same id makes it pass again.
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { PRESENCE_LOST_OUTPUT } from '../../src/health/presence.js';
import { runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminClient } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { startApp, tearDown, type App } from '../proxy/helpers.js';
import { formatHostPort } from '../../src/util/host-port.js';
import { killProxies, startProxy, type ProxyProcess } from '../proxy/proxy-process.js';

const dir = tempDir('presence');
const graceDir = tempDir('presence-grace');
const apps: App[] = [];
let server: ServerProcess | undefined;

after(async () => {
  killProxies();
  await tearDown(dir, [], apps);
  graceDir.remove();
});

async function status(id: string, on = server!): Promise<{ status: string; ttlOutput: string | undefined }> {
  const { instances } = await adminClient(on.url).instances('svc');
  const instance = instances.find((i) => i.id === id);
  return { status: instance?.status ?? 'absent', ttlOutput: instance?.checks.find((c) => c.name === 'ttl')?.output };
}

function proxy(id: string, app: App, on = server!): ReturnType<typeof startProxy> {
  // A long TTL: only the presence stream can explain a fast verdict.
  return startProxy(['--service', 'svc', '--id', id, '--app-port', String(app.port), '--control-plane', on.url, '--ttl', '10s', '--health-interval', '200ms', '--mtls', 'off']);
}

/** The sidecar's presence stream is open (its admin /status says so): before that, a kill -9 is seen only by the TTL. */
async function presenceOpen(sidecar: ProxyProcess): Promise<void> {
  await waitFor('the presence stream open', async () => {
    const response = await fetch(`http://${formatHostPort(sidecar.admin)}/status`);
    return (await response.json() as { presence?: boolean }).presence === true;
  });
}

it('marks a kill -9ed sidecar critical within 1.5 s (TTL 10 s), keeps its sibling passing, and restores it when it comes back', async () => {
  server = await startServer(dir.path);
  const one = await startApp('one');
  const two = await startApp('two');
  apps.push(one, two);
  const victim = await proxy('svc-one', one);
  await proxy('svc-two', two);
  await waitFor('both passing', async () => (await status('svc-one')).status === 'passing' && (await status('svc-two')).status === 'passing');
  await presenceOpen(victim);
  const killedAt = Date.now();
  victim.child.kill('SIGKILL');
  await waitFor('svc-one critical', async () => (await status('svc-one')).status === 'critical', { timeoutMs: 1_500 });
  const elapsed = Date.now() - killedAt;
  assert.ok(elapsed <= 1_500, `critical after ${elapsed} ms`);
  assert.equal((await status('svc-one')).ttlOutput, PRESENCE_LOST_OUTPUT);
  assert.equal((await status('svc-two')).status, 'passing');
  process.stdout.write(`# time to critical after kill -9 of a sidecar: ${elapsed} ms\n`);

  await proxy('svc-one', one);
  await waitFor('svc-one passing again', async () => (await status('svc-one')).status === 'passing');
  // The sibling never flapped while the victim died and came back.
  assert.equal((await status('svc-two')).status, 'passing');
});

it('waits --presence-grace before marking a vanished sidecar critical, and refuses a grace out of range', async () => {
  const bad = await runCli(['server', '--data-dir', graceDir.path, '--listen', '127.0.0.1:0', '--dns', 'off', '--presence-grace', '10ms']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--presence-grace must be from 50ms to 1h \(got 10ms\)/);

  const patient = await startServer(graceDir.path, ['--presence-grace', '2s']);
  const app = await startApp('grace');
  apps.push(app);
  const victim = await proxy('svc-grace', app, patient);
  await waitFor('svc-grace passing', async () => (await status('svc-grace', patient)).status === 'passing');
  await presenceOpen(victim);
  const killedAt = Date.now();
  victim.child.kill('SIGKILL');
  await waitFor('svc-grace critical', async () => (await status('svc-grace', patient)).status === 'critical', { timeoutMs: 4_000 });
  const elapsed = Date.now() - killedAt;
  // Not before the 2 s grace (the default 500 ms would have fired long before); well before the 10 s TTL.
  assert.ok(elapsed >= 1_900 && elapsed <= 4_000, `critical after ${elapsed} ms with a 2 s grace`);
  assert.equal((await status('svc-grace', patient)).ttlOutput, PRESENCE_LOST_OUTPUT);
});
