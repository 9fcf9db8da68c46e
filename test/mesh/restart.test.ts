/**
 * Restart policy of `trellis up`'s replicas: always (the default, as a Deployment's pods),
 * on-failure, never; restarts back off, 1 s doubling to 30 s, and the table shows the policy.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RESTART_BACKOFF, RestartBackoff, shouldRestart } from '../../src/mesh/restart.js';
import { describeReplicaExit } from '../../src/mesh/mesh.js';
import { formatSummary } from '../../src/mesh/summary.js';
import { tempDir } from '../helpers/processes.js';
import { adminClient } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { killSpawned, meshSummary, spawnCli } from './spawn.js';

const hello = resolve(dirname(fileURLToPath(import.meta.url)), '../../examples/hello/server.js');
const dir = tempDir('restart');
const pids: number[] = [];
after(() => { killSpawned(pids); dir.remove(); });

describe('restart policy', () => {
  it('backs off from 1 s, doubling to 30 s, and starts over after a replica ran a minute', () => {
    const backoff = new RestartBackoff();
    assert.deepEqual([0, 0, 0, 0, 0, 0, 0].map(() => backoff.next(0)), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    assert.equal(backoff.next(RESTART_BACKOFF.resetAfterMs), 1000);
    assert.equal(backoff.restarts, 8);
  });

  it('names how a replica ended: exit code, the signal behind 128 + N, a liveness stop', () => {
    assert.deepEqual([describeReplicaExit(0, false), describeReplicaExit(137, false), describeReplicaExit(143, false), describeReplicaExit(null, false), describeReplicaExit(137, true)],
      ['exit code 0', 'exit code 137 (SIGKILL)', 'exit code 143 (SIGTERM)', 'killed by a signal', 'exit code 137 (SIGKILL), stopped after failing its liveness check']);
  });

  it('always restarts; on-failure only after a failure; never never', () => {
    assert.deepEqual([0, 1, null].map((code) => shouldRestart('always', code)), [true, true, true]);
    assert.deepEqual([0, 1, null].map((code) => shouldRestart('on-failure', code)), [false, true, true]);
    assert.deepEqual([0, 1, null].map((code) => shouldRestart('never', code)), [false, false, false]);
  });

  it('trellis up restarts a killed replica (default always) and leaves one with restart: never stopped', async () => {
    const file = join(dir.path, 'mesh.yaml');
    writeFileSync(file, `services:
  web:
    command: ["${process.execPath}", "${hello}"]
    health: { http: /healthz }
  job:
    command: ["${process.execPath}", "${hello}"]
    restart: never
`);
    const up = spawnCli(['up', file, '--json', '--listen', '127.0.0.1:0', '--dns', 'off']);
    const summary = await meshSummary(up);
    pids.push(...summary.replicas.flatMap((r) => [r.pid, r.appPid]));
    assert.deepEqual(summary.replicas.map((r) => [r.id, r.restart, r.restarts]), [['web-1', 'always', 0], ['job-1', 'never', 0]]);
    const table = formatSummary(summary).split('\n');
    assert.match(table[0] ?? '', /RESTART +SIDECAR IN +ADMIN \(\/metrics\)/);
    assert.match(table[1] ?? '', /always \(0\) +127\.0\.0\.1:\d+ +127\.0\.0\.1:\d+ /);
    const [first] = summary.replicas;
    assert.ok(first !== undefined);
    const after = formatSummary({ ...summary, replicas: [{ ...first, restarts: 1, lastExit: 'exit code 137 (SIGKILL)', backoff: '1s' }] }).split('\n');
    assert.match(after[1] ?? '', / always \(1; last exit code 137 \(SIGKILL\), back-off 1s\) +127\.0\.0\.1:\d+ /);

    const [web, job] = summary.replicas;
    assert.ok(web !== undefined && job !== undefined);
    process.kill(web.appPid, 'SIGKILL');
    process.kill(job.appPid, 'SIGKILL');
    assert.deepEqual(JSON.parse(await up.line(/"kind":"restarting","id":"web-1"/)), { kind: 'restarting', id: 'web-1', inMs: 1000, restarts: 1 });
    assert.deepEqual(JSON.parse(await up.line(/"kind":"not-restarted"/)), { kind: 'not-restarted', id: 'job-1', restart: 'never' });
    // Waiting out its back-off (1 s, then its start), web-1 shows as restarting — critical, weight 0,
    // with this run's labels — as a pod in CrashLoopBackOff does, not as the previous run or gone.
    const waiting = await waitFor('web-1 shown as restarting', async () => (await adminClient(summary.controlPlane).instances('web')).instances
      .find((i) => i.id === 'web-1' && i.metadata['trellis.dev/restarting-at'] !== undefined && i.checks.some((c) => c.output.startsWith('restarting in'))), { timeoutMs: 10_000, everyMs: 20 });
    assert.equal(waiting.status, 'critical', 'never routed to while it restarts');
    assert.equal(waiting.weight, 0);
    assert.match(waiting.checks.map((c) => c.output).join(' | '), /restarting in 1s \(restart #1; last exit code 137 \(SIGKILL\)\)/);
    assert.equal(waiting.metadata['trellis.dev/restarts'], '1', 'the labels of the run that just ended, not the previous run\'s');
    assert.equal(waiting.metadata['trellis.dev/last-exit'], 'exit code 137 (SIGKILL)');
    const again = await waitFor('web-1 ready again', () => up.lines.filter((l) => l.includes('"kind":"ready"') && l.includes('"id":"web-1"'))[1], { timeoutMs: 30_000 });
    const info = (JSON.parse(again) as { info: { appPid: number; appHost: string; appPort: number } }).info;
    pids.push(info.appPid);
    assert.equal(await (await fetch(`http://${info.appHost}:${info.appPort}/`)).text(), 'Hello, World! from web-1\n');
    assert.equal(up.lines.filter((l) => l.includes('"kind":"starting","service":"job"')).length, 1, 'job-1 was not started again');
    const client = adminClient(summary.controlPlane);
    const registered = await waitFor('web-1 registered again', async () => (await client.instances('web')).instances.find((i) => i.metadata['trellis.dev/restarts'] === '1' && i.metadata['trellis.dev/restarting-at'] === undefined));
    assert.equal(registered.metadata['trellis.dev/restart'], 'always');
    // How its last run ended and the back-off travel with it too: the dashboard's Restarts column shows them.
    assert.equal(registered.metadata['trellis.dev/last-exit'], 'exit code 137 (SIGKILL)');
    assert.equal(registered.metadata['trellis.dev/backoff'], '1s');
    const { model } = await import(pathToFileURL(resolve(dirname(fileURLToPath(import.meta.url)), '../../../dashboard/model.js')).href) as {
      model(view: unknown): { services: Array<{ name: string; instances: Array<{ id: string; restarts: unknown }> }> };
    };
    const drawn = model({ services: [], edges: [], routes: {}, sidecars: [], departed: [], instances: [registered] });
    assert.deepEqual(drawn.services[0]?.instances[0]?.restarts, { policy: 'always', count: 1, lastExit: 'exit code 137 (SIGKILL)', backoff: '1s' });

    up.child.kill('SIGINT');
    assert.equal(await up.exited, 0, up.output());
  });

  it('a failing build step stops trellis up before any replica starts, naming the command', async () => {
    const file = join(dir.path, 'build.yaml');
    writeFileSync(file, `services:\n  web:\n    build: ["sh", "-c", "echo compiling; exit 3"]\n    command: ["${process.execPath}", "${hello}"]\n`);
    const up = spawnCli(['up', file, '--listen', '127.0.0.1:0', '--dns', 'off']);
    assert.equal(await up.exited, 1, up.output());
    assert.match(up.output(), /^\[web build\] compiling$/m);
    assert.ok(up.lines.includes(`trellis: web: the build step \`sh -c echo compiling; exit 3\` exited with code 3 (in ${dir.path}); fix it, or remove build: from ${file} [TRELLIS_ERR_APP_UNAVAILABLE]`), up.output());
    assert.doesNotMatch(up.output(), /starting web/);
  });

  it('a replica failing its liveness check is stopped and started again', async () => {
    const app = join(dir.path, 'breakable.cjs');
    writeFileSync(app, `let broken = false;
require('node:http').createServer((req, res) => {
  if (req.url === '/break') broken = true;
  res.writeHead(req.url === '/healthz' && broken ? 500 : 200).end(broken ? 'broken' : 'ok');
}).listen(Number(process.env.PORT), '127.0.0.1');
`);
    const file = join(dir.path, 'liveness.yaml');
    writeFileSync(file, `services:\n  web:\n    command: ["${process.execPath}", "${app}"]\n    liveness: { http: /healthz, interval: 200ms, failureThreshold: 2 }\n`);
    const up = spawnCli(['up', file, '--json', '--listen', '127.0.0.1:0', '--dns', 'off']);
    const summary = await meshSummary(up);
    pids.push(...summary.replicas.flatMap((r) => [r.pid, r.appPid]));
    const [web] = summary.replicas;
    assert.ok(web !== undefined);
    assert.equal(await (await fetch(`http://${web.app}/break`)).text(), 'broken');
    const failed = JSON.parse(await up.line(/"kind":"liveness-failed"/)) as { id: string; failures: number; output: string };
    assert.deepEqual([failed.id, failed.failures], ['web-1', 2]);
    assert.match(failed.output, /500/);
    await up.line(/"kind":"restarting","id":"web-1"/);
    const again = await waitFor('web-1 ready again', () => up.lines.filter((l) => l.includes('"kind":"ready"') && l.includes('"id":"web-1"'))[1], { timeoutMs: 30_000 });
    const info = (JSON.parse(again) as { info: { appPid: number; appHost: string; appPort: number } }).info;
    pids.push(info.appPid);
    assert.notEqual(info.appPid, web.appPid);
    assert.equal(await (await fetch(`http://${info.appHost}:${info.appPort}/healthz`)).text(), 'ok');
    up.child.kill('SIGINT');
    assert.equal(await up.exited, 0, up.output());
  });
});
