/**
 * Trellis as a library (trellis-mesh/client, src/library): a Node app with no sidecar calls
 * http://my-service/ through the mesh client's undici Dispatcher, three plain HTTP instances
 * registered in a real control plane. Calls spread over the three; a kill -9 of one while GETs
 * run fails none of them (the sidecar's retry and outlier layers, in process).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { createMeshClient, type MeshClient } from '../../src/library/index.js';
import { killAll, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminToken, mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'http-backend.js');
const children: ChildProcess[] = [];

function startBackend(cp: string, token: string, id: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [FIXTURE], { env: { ...process.env, CP: cp, TOKEN: token, SERVICE: 'my-service', ID: id }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${id} exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', () => resolve(child));
  });
}

async function get(mesh: MeshClient): Promise<string> {
  const { statusCode, body } = await request('http://my-service/', { dispatcher: mesh.dispatcher });
  const text = await body.text();
  if (statusCode !== 200) throw new Error(`status ${statusCode}: ${text}`);
  return text;
}

describe('the mesh client library (no sidecar)', () => {
  const data = tempDir('library');
  let server: ServerProcess;
  let mesh: MeshClient;
  const backends = new Map<string, ChildProcess>();

  before(async () => {
    server = await startServer(join(data.path, 'cp'));
    for (const id of ['web-1', 'web-2', 'web-3']) backends.set(id, await startBackend(server.url, adminToken(server.url)!, id));
    mesh = await createMeshClient({ service: 'caller', controlPlane: server.url, token: await mintToken(server.url, 'caller'), upstreams: ['my-service'], mtls: 'off' });
  });

  after(async () => {
    await mesh?.close();
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    killAll();
    await server?.kill();
    data.remove();
  });

  it('follows the control plane and spreads GETs over the 3 instances', async () => {
    assert.deepEqual(mesh.state(), { 'my-service': 'connected' });
    await waitFor('all 3 instances in the table', async () => new Set(await Promise.all(Array.from({ length: 12 }, () => get(mesh)))).size === 3);
    const counts = new Map<string, number>();
    for (let i = 0; i < 150; i += 1) {
      const id = await get(mesh);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const id of backends.keys()) assert.ok((counts.get(id) ?? 0) >= 30, `${id} got ${counts.get(id) ?? 0} of 150 GETs: ${JSON.stringify(Object.fromEntries(counts))}`);
  });

  it('fails no GET when an instance is killed with kill -9 mid-traffic', async (t) => {
    const failures: string[] = [];
    const answered = new Map<string, number>();
    let running = true;
    const loop = async (): Promise<void> => {
      while (running) {
        try {
          const id = await get(mesh);
          answered.set(id, (answered.get(id) ?? 0) + 1);
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const loops = [loop(), loop(), loop(), loop()];
    await waitFor('traffic on every instance', () => answered.size === 3);
    backends.get('web-2')!.kill('SIGKILL');
    const killedAt = Date.now();
    const before = answered.get('web-2') ?? 0;
    // Past the 2 s TTL: the instance leaves the table too.
    await waitFor('3 s of GETs after the kill', () => Date.now() - killedAt > 3_000, { timeoutMs: 10_000 });
    running = false;
    await Promise.all(loops);
    t.diagnostic(`GETs answered: ${JSON.stringify(Object.fromEntries(answered))}, failed: ${failures.length}`);
    assert.deepEqual(failures, [], `${failures.length} GETs failed`);
    assert.ok((answered.get('web-1') ?? 0) > 20 && (answered.get('web-3') ?? 0) > 20, JSON.stringify(Object.fromEntries(answered)));
    assert.ok((answered.get('web-2') ?? 0) - before <= 4, 'the killed instance kept answering');
  });

  it('reports its golden metrics like a sidecar: `trellis edges` shows caller → my-service', async () => {
    const edge = await waitFor('the edge caller → my-service', async () => {
      const { stdout, code } = await runCli(['edges', '--json', '--control-plane', server.url]);
      if (code !== 0) return undefined;
      const edges = (JSON.parse(stdout) as { edges: Array<{ src: string; dst: string; requests?: number; rps?: number; successRate?: number | null }> }).edges;
      return edges.find((e) => e.src === 'caller' && e.dst === 'my-service' && (e.requests ?? 0) > 0);
    }, { timeoutMs: 15_000, everyMs: 500 });
    assert.ok((edge.requests ?? 0) > 100, `the edge counts ${edge.requests ?? 0} requests: ${JSON.stringify(edge)}`);
  });

  it('keeps its last endpoints when the control plane goes away, and says so', async () => {
    await server.kill();
    await waitFor('the table marked stale', () => mesh.state()['my-service'] === 'stale', { timeoutMs: 15_000 });
    const answers = new Set<string>();
    for (let i = 0; i < 30; i += 1) answers.add(await get(mesh));
    assert.deepEqual([...answers].sort(), ['web-1', 'web-3']);
  });

  it('refuses a service it does not call with a coded error', async () => {
    await assert.rejects(request('http://other-service/', { dispatcher: mesh.dispatcher }), (err: Error & { code?: string }) => err.code === 'TRELLIS_ERR_NO_ROUTE' && /add it to upstreams/.test(err.message));
  });
});
