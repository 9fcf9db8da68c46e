/**
 * A hung replica (SIGSTOP of its app and its `trellis proxy`: connections are still accepted by
 * the kernel, nothing answers) behind a caller with 3 replicas and the default policy: every
 * request still succeeds — 1 s without progress while the others answer ejects it
 * (outlierDetection.noProgressTimeout) and ends its attempts in flight, which are retried elsewhere;
 * without that, the per-try timeout (5 s) would — so no request waits longer than perTryTimeout +
 * 2 s (back-off, the second attempt, a loaded machine), and requests sent after the ejection do
 * not wait at all.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import { DEFAULT_PER_TRY_TIMEOUT_MS } from '../../src/proxy/policy.js';
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
/** The documented bound on any request's wait while an instance hangs. */
const WAIT_BOUND_MS = DEFAULT_PER_TRY_TIMEOUT_MS + 2_000;

describe('a hung (SIGSTOPped) instance', () => {
  const dir = tempDir('proxy-hung');
  const appScript = join(dir.path, 'app.cjs');
  const apps = new Set<ChildProcess>();
  const stopped: ChildProcess[] = [];
  let server: ServerProcess;
  let caller: Sidecar;

  async function startReplica(name: string): Promise<{ app: ChildProcess; proxy: ProxyProcess }> {
    const app = spawn(process.execPath, [appScript, name], { stdio: ['ignore', 'pipe', 'inherit'] });
    apps.add(app);
    const port = await new Promise<string>((resolve) => createInterface({ input: app.stdout }).once('line', resolve));
    const proxy = await startProxy(['--service', 'svc', '--id', `svc-${name}`, '--app-port', port, '--control-plane', server.url, '--health-interval', '200ms']);
    return { app, proxy };
  }

  before(async () => {
    writeFileSync(appScript, APP);
    server = await startServer(dir.path);
    // The default policy: no timeout, retry or outlier setting given.
    caller = await sidecar({ service: 'caller', controlPlane: server.url, upstreams: [{ service: 'svc', loadBalancer: 'round-robin' }] });
  });

  after(async () => {
    for (const child of stopped) child.kill('SIGCONT');
    await caller.close();
    killProxies();
    for (const app of apps) app.kill('SIGKILL');
    killAll();
    dir.remove();
  });

  it(`requests keep succeeding, none waits over ${WAIT_BOUND_MS} ms, and the hung one is ejected after 2 per-try timeouts`, async () => {
    const replicas = new Map<string, { app: ChildProcess; proxy: ProxyProcess }>();
    for (const name of ['a', 'b', 'c']) replicas.set(name, await startReplica(name));
    await endpointsReached(caller, 'svc', 3);

    // Enough connections that requests held by the hung replica never queue the others in this client.
    const pool = new Pool(url(caller.outbound), { connections: 512 });
    const answers: Array<{ sent: number; ms: number; status: number; body: string }> = [];
    let sending = true;
    const inFlight = new Set<Promise<void>>();
    const traffic = (async () => {
      while (sending) {
        const sent = Date.now();
        const request: Promise<void> = send(url(caller.outbound, '/'), { headers: { host: 'svc' }, dispatcher: pool }).then(
          (a) => { answers.push({ sent, ms: Date.now() - sent, status: a.status, body: a.body }); },
          (err: unknown) => { answers.push({ sent, ms: Date.now() - sent, status: 0, body: String(err) }); },
        ).finally(() => inFlight.delete(request));
        inFlight.add(request);
        await new Promise((resolve) => setTimeout(resolve, 20)); // the request rate, not synchronisation
      }
      await Promise.all(inFlight);
    })();

    await waitFor('traffic on every replica', () => ['a', 'b', 'c'].every((n) => answers.some((a) => a.body === n)));
    const victim = replicas.get('b');
    assert.ok(victim !== undefined);
    victim.app.kill('SIGSTOP');
    victim.proxy.child.kill('SIGSTOP');
    stopped.push(victim.app, victim.proxy.child);
    const stoppedAt = Date.now();

    await waitFor('the caller to eject the hung replica', () => (caller.status().upstreams['svc']?.ejected ?? []).includes('svc-b'), { timeoutMs: WAIT_BOUND_MS + 5_000 });
    const ejectedAfter = Date.now() - stoppedAt;
    await waitFor('traffic after the ejection', () => answers.filter((a) => a.sent > stoppedAt + ejectedAfter + 200).length >= 50, { timeoutMs: 30_000 });
    sending = false;
    await traffic;
    await pool.close();

    const failures = answers.filter((a) => a.status !== 200);
    assert.deepEqual(failures, [], `every request succeeded (${answers.length} sent)`);
    const slowest = Math.max(...answers.map((a) => a.ms));
    assert.ok(slowest <= WAIT_BOUND_MS, `the slowest request took ${slowest} ms (bound ${WAIT_BOUND_MS} ms)`);
    assert.ok(ejectedAfter <= WAIT_BOUND_MS, `ejected ${ejectedAfter} ms after SIGSTOP (per-try timeout ${DEFAULT_PER_TRY_TIMEOUT_MS} ms)`);
    const afterEjection = answers.filter((a) => a.sent > stoppedAt + ejectedAfter + 100);
    assert.ok(afterEjection.every((a) => a.body !== 'b' && a.ms < 1_000), 'requests after the ejection go elsewhere at once');
    const waited = answers.filter((a) => a.sent >= stoppedAt && a.ms > 1_000).length;
    process.stdout.write(`# hung instance: ejected ${ejectedAfter} ms after SIGSTOP; ${waited} of ${answers.length} requests waited > 1 s; slowest ${slowest} ms\n`);
  });
});
