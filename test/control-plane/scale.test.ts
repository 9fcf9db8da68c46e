/**
 * The control plane with tens of thousands of instances (issue 13, at sizes that fit the suite):
 * a paged list of 20,000 never holds up a small request; 20,000 leases expiring at once never
 * block a request for long and leave the control plane's own membership alone; a replay of
 * 50,000+ events reaches a client that reads, whole and in order; an NDJSON watch's headers
 * come at once. Small requests are timed from a separate process (test/helpers/latency-probe.ts).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { ControlPlaneClient } from '../../src/client/control-plane.js';
import { adminClient, adminToken } from '../helpers/tokens.js';
import { killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const PROBE = join(dirname(fileURLToPath(import.meta.url)), '../helpers/latency-probe.js');
const BULK = 1_000;

interface Probe { stop(): Promise<{ latencies: number[]; failures: string[] }> }

async function startProbe(url: string, path: string): Promise<Probe> {
  const child: ChildProcess = spawn(process.execPath, [PROBE, url, path, adminToken(url) ?? ''], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const received: string[] = [];
  lines.on('line', (line) => received.push(line));
  await waitFor('the latency probe', () => received.includes('ready'));
  return {
    async stop() {
      child.kill('SIGTERM');
      const report = await waitFor('the probe report', () => received.find((l) => l.startsWith('{')), { timeoutMs: 10_000 });
      return JSON.parse(report) as { latencies: number[]; failures: string[] };
    },
  };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

/** Register `count` instances of `service` with the bulk call, a few requests at a time. */
async function registerBulk(client: ControlPlaneClient, service: string, count: number, body: Record<string, unknown>): Promise<void> {
  const batches: number[] = [];
  for (let start = 0; start < count; start += BULK) batches.push(start);
  const run = async (): Promise<void> => {
    for (let start = batches.shift(); start !== undefined; start = batches.shift()) {
      const instances = Array.from({ length: Math.min(BULK, count - start) }, (_, i) => ({
        id: `i-${String(start + i).padStart(6, '0')}`, address: '10.0.0.1', port: 1_000 + ((start + i) % 60_000), metadata: { zone: 'a' }, ...body,
      }));
      const answer = await client.registerMany(service, instances);
      assert.equal(answer.failed, 0, JSON.stringify(answer.results.find((r) => !r.ok)));
    }
  };
  await Promise.all([run(), run()]);
}

describe('the control plane at scale', () => {
  const dir = tempDir('scale');
  let server: ServerProcess;
  let client: ControlPlaneClient;

  before(async () => {
    server = await startServer(dir.path, ['--dns', 'off']);
    client = adminClient(server.url);
    await registerBulk(client, 'small', 3, {});
  });
  after(() => { killAll(); dir.remove(); });

  it('sends the headers of an NDJSON watch at once', async (t) => {
    const times: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const started = performance.now();
      const controller = new AbortController();
      const res = await request(`${server.url}/v1/watch?format=ndjson&service=small`, {
        headers: { authorization: `Bearer ${adminToken(server.url) ?? ''}` }, signal: controller.signal,
      });
      times.push(performance.now() - started);
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /application\/x-ndjson/);
      controller.abort();
      await res.body.text().catch(() => undefined);
    }
    t.diagnostic(`NDJSON headers after ${times.map((x) => x.toFixed(1)).join(', ')} ms`);
    assert.ok(Math.min(...times) < 100, `headers after ${times.map((t) => t.toFixed(1)).join(', ')} ms`);
    assert.ok(Math.max(...times) < 1_000, `headers after ${times.map((t) => t.toFixed(1)).join(', ')} ms (the keep-alive is 15 s)`);
  });

  it('lists 20,000 instances page by page while another client gets GET /v1/services/X with p99 < 50 ms', async (t) => {
    await registerBulk(client, 'big', 20_000, {});
    const probe = await startProbe(server.url, '/v1/services/small');
    const ids: string[] = [];
    let cursor: string | undefined;
    let firstRevision: number | undefined;
    let pages = 0;
    do {
      const page = await client.instancesPage('big', { limit: 100, ...(cursor === undefined ? {} : { cursor }) });
      firstRevision ??= page.revision;
      assert.equal(page.revision, firstRevision, 'every page answers with the first page\'s revision');
      ids.push(...page.instances.map((i) => i.id));
      cursor = page.cursor ?? undefined;
      pages += 1;
    } while (cursor !== undefined);
    const { latencies, failures } = await probe.stop();
    assert.equal(ids.length, 20_000);
    assert.equal(new Set(ids).size, 20_000, 'no instance twice');
    assert.deepEqual(ids, [...ids].sort(), 'in key order');
    assert.equal(pages, 200);
    assert.deepEqual(failures, []);
    assert.ok(latencies.length >= 10, `${latencies.length} probes`);
    const p99 = percentile(latencies, 0.99);
    t.diagnostic(`small request during the paged list: p99 ${p99.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms, n=${latencies.length}`);
    assert.ok(p99 < 50, `p99 ${p99.toFixed(1)} ms over ${latencies.length} requests (max ${Math.max(...latencies).toFixed(1)} ms)`);
    const summary = await client.service('big');
    assert.equal(summary.service.instances, 20_000);
  });

  it('20,000 leases expiring at once: a concurrent request takes < 100 ms (p99.9; none > 1 s) and the membership holds', async (t) => {
    await registerBulk(client, 'storm', 20_000, { ttl: '15s' });
    // One wave of bulk heartbeats: every lease now ends within the same second.
    const ids = Array.from({ length: 20_000 }, (_, i) => `i-${String(i).padStart(6, '0')}`);
    const waves: Array<Promise<unknown>> = [];
    for (let start = 0; start < ids.length; start += BULK) waves.push(client.heartbeatMany('storm', ids.slice(start, start + BULK)));
    const answers = await Promise.all(waves) as Array<{ failed: number }>;
    assert.ok(answers.every((a) => a.failed === 0));
    const probe = await startProbe(server.url, '/v1/services/small');
    const members: number[] = [];
    await waitFor('all 20,000 marked critical', async () => {
      const status = await client.status() as unknown as { replica: { members: unknown[] } | null };
      members.push(status.replica?.members.length ?? 0);
      return (await client.service('storm')).service.critical === 20_000;
    }, { timeoutMs: 50_000, everyMs: 100 });
    const { latencies, failures } = await probe.stop();
    assert.deepEqual(failures, []);
    const max = Math.max(...latencies);
    t.diagnostic(`small request during the expiry storm: p99 ${percentile(latencies, 0.99).toFixed(1)} ms, max ${max.toFixed(1)} ms, n=${latencies.length}`);
    // p99.9, not the max: on a shared 2-core test machine one request in thousands can wait for a CPU.
    assert.ok(percentile(latencies, 0.999) < 100 && max < 1_000, `slowest of ${latencies.length} requests during the storm: ${max.toFixed(1)} ms (p99 ${percentile(latencies, 0.99).toFixed(1)} ms, p99.9 ${percentile(latencies, 0.999).toFixed(1)} ms)`);
    assert.ok(members.length > 0 && members.every((n) => n === 1), `members seen: ${[...new Set(members)].join(', ')}`);
    assert.doesNotMatch(server.output(), /membership lease expired|could not renew control-plane membership/);
  });

  it('replays 50,000+ events to a client that reads: whole, in order, never cut off as too slow', async (t) => {
    // The newest registry event: a registration now.
    const target = (await client.register('small', 'last', { address: '127.0.0.1', port: 9 })).revision;
    const controller = new AbortController();
    const res = await request(`${server.url}/v1/watch?format=ndjson&after=0`, { headers: { authorization: `Bearer ${adminToken(server.url) ?? ''}` }, signal: controller.signal });
    res.body.on('error', () => undefined); // the abort below, once everything arrived
    assert.equal(res.statusCode, 200);
    let count = 0;
    let last = 0;
    let error: string | undefined;
    const lines = createInterface({ input: res.body, crlfDelay: Infinity });
    lines.on('error', () => undefined); // readline re-emits the body's abort below
    for await (const line of lines) {
      if (line.trim() === '') continue;
      const event = JSON.parse(line) as { revision?: number; error?: { code: string } };
      if (event.error !== undefined) { error = event.error.code; break; }
      assert.ok((event.revision ?? 0) >= last, 'in revision order');
      last = event.revision ?? 0;
      count += 1;
      if (last >= target) break;
    }
    controller.abort();
    assert.equal(error, undefined);
    t.diagnostic(`replayed ${count} events`);
    assert.ok(count >= 50_000, `${count} events replayed`);
    assert.equal(last, target, 'through the last revision');
  });
});
