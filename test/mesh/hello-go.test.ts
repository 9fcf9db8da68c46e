/**
 * The seed's example as the seed wrote it: its unmodified Go server (hard-coded to :8080), its
 * Deployment (replicas: 3) and Service (80 → 8080), unchanged, through `trellis up -f`. Each
 * replica runs in its own network namespace (root), requests to the one entry port rotate over
 * the three, and a replica whose app is killed with -9 is restarted while a steady client sees
 * no failed GET. Needs `go` (Debian's golang-go) and root; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { MeshSummary } from '../../src/mesh/summary.js';
import { tempDir } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { alive, killSpawned, meshSummary, spawnCli } from './spawn.js';

const seed = resolve(dirname(fileURLToPath(import.meta.url)), '../../../examples/hello-go');
const hasGo = ((): boolean => { try { execFileSync('go', ['version'], { stdio: 'ignore' }); return true; } catch { return false; } })();
const isRoot = process.getuid?.() === 0;
const dir = tempDir('hello-go');
const pids: number[] = [];
after(() => { killSpawned(pids); dir.remove(); });

/** request_total of the sidecar's inbound side, from its admin /metrics. */
async function inboundRequests(admin: string): Promise<number> {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith('request_total{') && l.includes('direction="inbound"'))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');
}

it("runs the seed's Deployment + Service, unchanged: 3 Go replicas on :8080 side by side, rotating, restarted after kill -9 with 0 failed GETs",
  { skip: !hasGo ? 'go is not installed (apt-get install golang-go)' : !isRoot ? 'network namespaces need root' : false, timeout: 300_000 }, async (t) => {
    for (const file of ['main.go', 'deployment.yaml', 'service.yaml', 'trellis-images.yaml']) copyFileSync(join(seed, file), join(dir.path, file));
    const up = spawnCli(['up', '-f', 'deployment.yaml', '-f', 'service.yaml', '--json', '--any-port', '--listen', '127.0.0.1:0', '--dns', 'off', '--data-dir', join(dir.path, 'data')],
      { cwd: dir.path });
    const summary: MeshSummary = await meshSummary(up, 180_000);
    pids.push(...summary.replicas.flatMap((r) => [r.pid, r.appPid]));
    assert.deepEqual(summary.replicas.map((r) => r.id), ['my-service-1', 'my-service-2', 'my-service-3']);
    // Three copies of a server hard-coded to :8080, each in a namespace of its own.
    for (const r of summary.replicas) assert.match(r.app, /^10\.211\.\d+\.\d+:8080$/);
    assert.equal(new Set(summary.replicas.map((r) => r.namespace)).size, 3);
    assert.ok(summary.replicas.every((r) => r.restart === 'always' && r.restarts === 0));
    const entry = summary.exposed['my-service'];
    assert.ok(entry !== undefined);

    // Requests to the one entry port rotate over the three replicas.
    const before = await Promise.all(summary.replicas.map((r) => inboundRequests(r.admin)));
    for (let i = 0; i < 30; i += 1) assert.equal(await (await fetch(`http://${entry}/`)).text(), 'Hello, World!');
    const served = (await Promise.all(summary.replicas.map((r) => inboundRequests(r.admin)))).map((n, i) => n - (before[i] ?? 0));
    assert.equal(served.reduce((a, b) => a + b, 0), 30, `served ${served.join(', ')}`);
    t.diagnostic(`30 GETs served per replica: ${served.join(', ')}`);
    for (const n of served) assert.ok(n >= 5, `each replica serves its share (served ${served.join(', ')})`);

    // A steady client while one app is killed with -9.
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const client = (async () => {
      while (running) {
        try {
          const res = await fetch(`http://${entry}/`);
          const body = await res.text();
          if (res.status === 200 && body === 'Hello, World!') ok += 1;
          else failures.push(`${res.status} ${body}`);
        } catch (err) {
          failures.push(String(err));
        }
        await new Promise((r) => setTimeout(r, 10)); // pacing of the load, not synchronisation
      }
    })();
    await waitFor('the client to run', () => ok >= 20, { timeoutMs: 30_000 });
    const victim = summary.replicas[1];
    assert.ok(victim !== undefined);
    const readyLines = (): string[] => up.lines.filter((l) => l.includes('"kind":"ready"') && l.includes('"id":"my-service-2"'));
    assert.equal(readyLines().length, 1);
    process.kill(victim.appPid, 'SIGKILL');
    const restarting = JSON.parse(await up.line(/"kind":"restarting","id":"my-service-2"/, 30_000)) as { inMs: number; restarts: number };
    assert.deepEqual(restarting, { kind: 'restarting', id: 'my-service-2', inMs: 1000, restarts: 1 });
    assert.match(up.output(), /"kind":"exited","id":"my-service-2","code":137/);
    const again = await waitFor('my-service-2 to be ready again', () => readyLines()[1], { timeoutMs: 60_000 });
    const info = (JSON.parse(again) as { info: { appPid: number; admin: string; appPort: number; namespace: string } }).info;
    pids.push(info.appPid);
    assert.notEqual(info.appPid, victim.appPid);
    assert.equal(info.appPort, 8080);
    assert.equal(info.namespace, victim.namespace, 'the same namespace across restarts');
    // The restarted replica takes its share again, and the client never failed.
    await waitFor('the restarted replica to serve', async () => (await inboundRequests(info.admin)) > 0, { timeoutMs: 30_000 });
    const afterRestart = ok;
    await waitFor('more requests after the restart', () => ok >= afterRestart + 20, { timeoutMs: 30_000 });
    running = false;
    await client;
    t.diagnostic(`steady client across the kill -9 and restart: ${ok} GETs answered, ${failures.length} failed`);
    assert.deepEqual(failures, [], `${failures.length} failed GETs of ${ok + failures.length}`);

    up.child.kill('SIGINT');
    assert.equal(await up.exited, 0, up.output());
    for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} outlived trellis up`);
    assert.deepEqual(namespaces().filter((n) => n.startsWith(`trellis-${up.pid}-`)), [], 'the namespaces are removed');
  });
