/**
 * kill -9 a whole replica (its app and its `trellis proxy`) while a client sends GETs at a
 * steady rate through a caller sidecar: no request fails (retries on another instance),
 * the dead replica leaves the caller's table (outlier ejection, then its TTL), and it
 * rejoins and gets traffic again when restarted.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, send, sidecar, url } from './helpers.js';
import { killProxies, startProxy, type ProxyProcess } from './proxy-process.js';

const APP = `
const http = require('node:http');
const server = http.createServer((req, res) => { req.resume(); res.end(process.argv[2]); });
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

interface ReplicaProcesses { app: ChildProcess; proxy: ProxyProcess }

/** The caller's trellis_retries_total for svc, from its admin /metrics. */
async function retries(caller: Sidecar): Promise<number> {
  const { body } = await send(url(caller.admin, '/metrics'));
  const line = body.split('\n').find((l) => l.startsWith('trellis_retries_total{dst_service="svc"}'));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('failover when a replica dies', () => {
  const dir = tempDir('proxy-failover');
  const appScript = join(dir.path, 'app.cjs');
  const apps = new Set<ChildProcess>();
  let server: ServerProcess;
  let caller: Sidecar;

  async function startReplica(name: string): Promise<ReplicaProcesses> {
    const app = spawn(process.execPath, [appScript, name], { stdio: ['ignore', 'pipe', 'inherit'] });
    apps.add(app);
    const port = await new Promise<string>((resolve) => createInterface({ input: app.stdout }).once('line', resolve));
    const proxy = await startProxy(['--service', 'svc', '--id', `svc-${name}`, '--app-port', port, '--control-plane', server.url,
      '--ttl', '1s', '--health-interval', '200ms']);
    return { app, proxy };
  }

  before(async () => {
    writeFileSync(appScript, APP);
    server = await startServer(dir.path);
    caller = await sidecar({ service: 'caller', controlPlane: server.url, upstreams: [{ service: 'svc', loadBalancer: 'round-robin' }] });
  });

  after(async () => {
    await caller.close();
    killProxies();
    for (const app of apps) app.kill('SIGKILL');
    killAll();
    dir.remove();
  });

  it('kill -9 of a replica under steady traffic fails no request; it rejoins when restarted', async () => {
    const replicas = new Map<string, ReplicaProcesses>();
    for (const name of ['a', 'b', 'c']) replicas.set(name, await startReplica(name));
    await endpointsReached(caller, 'svc', 3);

    // A GET every 5 ms, each on its own in the pool, until told to stop.
    const pool = new Pool(url(caller.outbound), { connections: 16 });
    const answers: Array<{ at: number; status: number; body: string }> = [];
    let sending = true;
    const inFlight = new Set<Promise<void>>();
    const traffic = (async () => {
      while (sending) {
        const request: Promise<void> = send(url(caller.outbound, '/'), { headers: { host: 'svc' }, dispatcher: pool }).then(
          (a) => { answers.push({ at: Date.now(), status: a.status, body: a.body }); },
          (err: unknown) => { answers.push({ at: Date.now(), status: 0, body: String(err) }); },
        ).finally(() => inFlight.delete(request));
        inFlight.add(request);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await Promise.all(inFlight);
    })();

    await waitFor('traffic on every replica', () => ['a', 'b', 'c'].every((n) => answers.some((a) => a.body === n)));
    const victim = replicas.get('b');
    assert.ok(victim !== undefined);
    victim.app.kill('SIGKILL');
    await victim.proxy.kill('SIGKILL');
    const killedAt = Date.now();

    await waitFor('the caller to drop the dead replica', () => !(caller.status().upstreams['svc']?.endpoints ?? []).includes('svc-b'));
    const detectedAt = Date.now();
    // Requests sent to the dead replica before detection failed and were retried on another:
    // the retry counter moved. After detection, none is sent to it, so it stays where it is.
    // (An answer from "b" cannot tell: a dead app answers nothing.)
    await waitFor('traffic after detection', () => answers.some((a) => a.at > detectedAt + 100));
    const retriesAtDetection = await retries(caller);
    assert.ok(retriesAtDetection >= 1, `the kill caused retries (${retriesAtDetection})`);
    await waitFor('traffic after detection', () => answers.filter((a) => a.at > detectedAt + 200).length >= 20);
    assert.equal(await retries(caller), retriesAtDetection, 'no attempt went to the dead replica after detection');

    replicas.set('b', await startReplica('b'));
    await endpointsReached(caller, 'svc', 3);
    const rejoinedAt = Date.now();
    await waitFor('the restarted replica to get traffic', () => answers.some((a) => a.at > rejoinedAt && a.body === 'b'));

    sending = false;
    await traffic;
    await pool.close();
    const failures = answers.filter((a) => a.status !== 200);
    assert.deepEqual(failures, [], `every request succeeded (${answers.length} sent; killed at +${killedAt - (answers[0]?.at ?? killedAt)} ms)`);
    assert.ok(answers.length > 100, `steady traffic: ${answers.length} requests`);
  });
});
