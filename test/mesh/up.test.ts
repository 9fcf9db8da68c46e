/**
 * `trellis up` on a small mesh: everything starts, the caller reaches every replica through
 * its sidecar, the exposed port answers, and SIGINT stops every process it started.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { adminClient } from '../helpers/tokens.js';
import { freePort } from '../../src/run/free-port.js';
import type { MeshEvent } from '../../src/mesh/mesh.js';
import { describeMeshEvent } from '../../src/mesh/progress.js';
import { tempDir } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { alive, killSpawned, meshSummary, spawnCli } from './spawn.js';

const hello = resolve(dirname(fileURLToPath(import.meta.url)), '../../examples/hello');
const dir = tempDir('up');
const pids: number[] = [];
after(() => { killSpawned(pids); dir.remove(); });

it('starts the mesh, the caller reaches every replica, and SIGINT stops every process', async () => {
  const exposedPort = await freePort();
  const file = join(dir.path, 'mesh.yaml');
  writeFileSync(file, `services:
  my-service:
    replicas: 2
    command: ["${process.execPath}", "${join(hello, 'server.js')}"]
    port: ${exposedPort}
    health: { http: /healthz, interval: 500ms }
  caller:
    command: ["${process.execPath}", "${join(hello, 'caller.js')}"]
    env: { CALL_RATE: "40", REPORT_EVERY_MS: "0" }
    health: { http: /healthz }
    upstreams: [my-service]
`);
  const up = spawnCli(['up', file, '--json', '--listen', '127.0.0.1:0', '--dns', '127.0.0.1:0']);
  const summary = await meshSummary(up);
  pids.push(...summary.replicas.flatMap((r) => [r.pid, r.appPid]));
  assert.deepEqual(summary.replicas.map((r) => r.id), ['my-service-1', 'my-service-2', 'caller-1']);
  assert.match(up.output(), /"kind":"starting","service":"my-service","index":2,"replicas":2/);
  // Every ready line names its sidecar's admin/metrics address, and /metrics answers there.
  const readyEvents = up.lines.filter((l) => l.includes('"kind":"ready"')).map((l) => JSON.parse(l) as MeshEvent);
  assert.equal(readyEvents.length, 3);
  for (const event of readyEvents) {
    assert.ok(event.kind === 'ready');
    const line = describeMeshEvent(event);
    assert.equal(line, `  ${event.info.id} ready (app ${event.info.appHost}:${event.info.appPort}, pid ${event.info.appPid}; sidecar admin/metrics http://${event.info.admin}/metrics)`);
    assert.match(await (await fetch(`http://${event.info.admin}/metrics`)).text(), /^# HELP /m, line);
  }

  const client = adminClient(summary.controlPlane);
  const instances = await waitFor('both replicas passing', async () => {
    const list = (await client.instances('my-service', true)).instances;
    return list.length === 2 ? list : undefined;
  });
  assert.deepEqual(instances.map((i) => i.id).sort(), ['my-service-1', 'my-service-2']);

  const caller = summary.replicas.find((r) => r.service === 'caller');
  assert.ok(caller !== undefined);
  assert.match(caller.upstreams['my-service'] ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
  const stats = await waitFor('the caller to reach both replicas', async () => {
    const s = await (await fetch(`http://${caller.app}/stats`)).json() as { ok: number; failed: number; byInstance: Record<string, number> };
    return (s.byInstance['my-service-1'] ?? 0) > 0 && (s.byInstance['my-service-2'] ?? 0) > 0 ? s : undefined;
  }, { timeoutMs: 15_000 });
  assert.equal(stats.failed, 0);

  assert.equal(summary.exposed['my-service'], `127.0.0.1:${exposedPort}`);
  const answers = new Set<string>();
  for (let i = 0; i < 4; i += 1) answers.add(await (await fetch(`http://127.0.0.1:${exposedPort}/`)).text());
  assert.deepEqual([...answers].sort(), ['Hello, World! from my-service-1\n', 'Hello, World! from my-service-2\n']);

  up.child.kill('SIGINT');
  assert.equal(await up.exited, 0, up.output());
  assert.equal(alive(up.pid), false);
  for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} outlived trellis up`);
  await assert.rejects(fetch(`http://127.0.0.1:${exposedPort}/`));
});
