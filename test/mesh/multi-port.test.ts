/**
 * A Kubernetes Service with two ports in front of an app that listens on both: `trellis up -f`
 * registers each port as a service of its own (`web-http`, `web-admin`), one instance per port
 * per replica, each reachable through its entry port; the table shows a row per port.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { formatSummary } from '../../src/mesh/summary.js';
import { tempDir } from '../helpers/processes.js';
import { adminClient } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { killSpawned, meshSummary, spawnCli } from './spawn.js';

const dir = tempDir('multi-port');
const pids: number[] = [];
after(() => { killSpawned(pids); dir.remove(); });

/** As root each replica gets a network namespace (two copies on the same fixed ports); else one replica on the host. */
const replicas = process.getuid?.() === 0 ? 2 : 1;

it('a two-port Service: each port registered as <service>-<port name> by every replica, each reachable on its entry port', async () => {
  const app = join(dir.path, 'app.cjs');
  writeFileSync(app, `const http = require('node:http');
const id = process.env.TRELLIS_INSTANCE_ID;
http.createServer((req, res) => res.end('http ' + id)).listen(18080);
http.createServer((req, res) => res.end('admin ' + id)).listen(18081);
`);
  const file = join(dir.path, 'web.yaml');
  writeFileSync(file, `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: web } }
  template:
    metadata:
      labels: { app: web }
      annotations: { trellis.dev/command: '["${process.execPath}", "${app}"]' }
    spec:
      containers:
        - name: web
          image: web:1
          ports: [{ name: http, containerPort: 18080 }, { name: admin, containerPort: 18081 }]
---
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  selector: { app: web }
  ports:
    - { name: http, port: 80, targetPort: http }
    - { name: admin, port: 81, targetPort: admin }
`);
  const up = spawnCli(['up', '-f', file, '--json', '--any-port', '--listen', '127.0.0.1:0', '--dns', 'off'], { cwd: dir.path });
  const summary = await meshSummary(up);
  pids.push(...summary.replicas.flatMap((r) => [r.pid, r.appPid]));
  const ids = Array.from({ length: replicas }, (_, i) => i + 1);
  assert.deepEqual(summary.replicas.map((r) => [r.service, r.id, r.ports.map((p) => `${p.service} ${p.id}`)]),
    ids.map((n) => ['web-http', `web-http-${n}`, [`web-admin web-admin-${n}`]]), 'one replica row per replica, each with its other port');
  const table = formatSummary(summary).split('\n');
  assert.ok(table.some((line) => /^web-admin +web-admin-1 /.test(line)), `the table has a row for the admin port:\n${table.join('\n')}`);

  const client = adminClient(summary.controlPlane);
  for (const [service, port] of [['web-http', 18080], ['web-admin', 18081]] as const) {
    const { instances } = await waitFor(`${service} registered by every replica`, async () => {
      const list = await client.instances(service, true);
      return list.instances.length === replicas ? list : undefined;
    });
    assert.deepEqual(instances.map((i) => i.id).sort(), ids.map((n) => `${service}-${n}`), `${service}: one instance per replica`);
    assert.ok(instances.every((i) => i.metadata['trellis.dev/restart'] === 'always'), `${service}: the replica's labels travel with each port (port ${port})`);
  }
  for (const [service, word] of [['web-http', 'http'], ['web-admin', 'admin']] as const) {
    const address = summary.exposed[service];
    assert.ok(address !== undefined, `${service} has an entry port (exposed: ${JSON.stringify(summary.exposed)})`);
    const seen = new Set<string>();
    await waitFor(`every replica's ${word} port through ${service}'s entry`, async () => {
      const body = await (await fetch(`http://${address}/`)).text();
      assert.match(body, new RegExp(`^${word} web-http-\\d$`), `${service}'s entry reaches the app's ${word} port`);
      seen.add(body);
      return seen.size === replicas ? true : undefined;
    }, { timeoutMs: 20_000 });
  }
  up.child.kill('SIGINT');
  await up.exited;
});
