/**
 * Fast failure detection (src/health/presence.ts): kill -9 of a sidecar process (no
 * deregistration, its heartbeat lease still valid for seconds) marks its instance critical
 * well within a second or so — not after the TTL — while a sibling sidecar stays passing; a
 * new sidecar under the same id makes it pass again.
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { PRESENCE_LOST_OUTPUT } from '../../src/health/presence.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminClient } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { startApp, tearDown, type App } from '../proxy/helpers.js';
import { killProxies, startProxy } from '../proxy/proxy-process.js';

const dir = tempDir('presence');
const apps: App[] = [];
let server: ServerProcess | undefined;

after(async () => {
  killProxies();
  await tearDown(dir, [], apps);
});

async function status(id: string): Promise<{ status: string; ttlOutput: string | undefined }> {
  const { instances } = await adminClient(server!.url).instances('svc');
  const instance = instances.find((i) => i.id === id);
  return { status: instance?.status ?? 'absent', ttlOutput: instance?.checks.find((c) => c.name === 'ttl')?.output };
}

function proxy(id: string, app: App): ReturnType<typeof startProxy> {
  // A long TTL: only the presence stream can explain a fast verdict.
  return startProxy(['--service', 'svc', '--id', id, '--app-port', String(app.port), '--control-plane', server!.url, '--ttl', '10s', '--health-interval', '200ms', '--mtls', 'off']);
}

it('marks a kill -9ed sidecar critical within 1.5 s (TTL 10 s), keeps its sibling passing, and restores it when it comes back', async () => {
  server = await startServer(dir.path);
  const one = await startApp('one');
  const two = await startApp('two');
  apps.push(one, two);
  const victim = await proxy('svc-one', one);
  await proxy('svc-two', two);
  await waitFor('both passing', async () => (await status('svc-one')).status === 'passing' && (await status('svc-two')).status === 'passing');
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
