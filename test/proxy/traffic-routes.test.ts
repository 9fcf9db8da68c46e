/**
 * Traffic routes in running sidecars (issue 15's Must show): a real control plane process,
 * replicas labelled version v1 / v2 behind their sidecars, a caller sidecar in-process, real
 * sockets. Routes go in through the API and reach the caller by its watch.
 *
 * - 90/10 split: shares within ±3 % over 5,000 requests; `x-canary: 1` always reaches v2;
 *   a weight change applies within 1 s with no failed request while traffic flows.
 * - Abort 50 % with 503: measured share within ±5 % (2,500 requests: σ = 1 %, so a 5σ margin: the
 *   test fails by chance with p < 1e-6; over 1,000 it was 3.2σ, 1 run in 600).
 * - Delay 100 ms on 20 %: the latency distribution shows a step at 100 ms holding ≈ 20 % (margins
 *   of 5σ of the 600-request binomial, σ ≈ 1.6 %: at least 12 %, and ± 8 % of the expected share).
 * - Mirror: every copy reaches the mirror (which answers slowly), the original's p99 stays
 *   far below the mirror's delay and close to the p99 without the mirror.
 * - Local rate limit 100 req/s (burst 10): the accepted rate is within ±10 % over a 10 s window
 *   (the bucket is deterministic: the burst adds 10 / 400 = 2.5 % over 4 s, and 16 clients
 *   keep it empty through the pauses of a loaded machine), the rest 429
 *   TRELLIS_ERR_RATE_LIMITED with Retry-After.
 * - Header changes on the request and the response; the last routes stay while the control
 *   plane is down.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminClient } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, send, sidecar, startApp, tearDown, url, type Answer, type App } from './helpers.js';

const SUBSETS = { v1: { version: 'v1' }, v2: { version: 'v2' } };
const MIRROR_DELAY_MS = 500;

interface Load { readonly answers: Answer[]; readonly latencies: number[]; readonly sentAt: number[] }

describe('traffic routes in running sidecars', () => {
  const dir = tempDir('proxy-traffic-routes');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  let server: ServerProcess;
  let caller: Sidecar;
  let pool: Pool;
  let mirrored = 0;
  const seenHeaders: Array<Record<string, string | string[] | undefined>> = [];

  /** `total` requests, `concurrency` at a time, on keep-alive connections to the caller's outbound listener. */
  async function load(total: number, options: { concurrency?: number; headers?: Record<string, string>; path?: string } = {}): Promise<Load> {
    const answers: Answer[] = [];
    const latencies: number[] = [];
    const sentAt: number[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < total) {
        next += 1;
        const startedAt = performance.now();
        answers.push(await send(url(caller.outbound, options.path ?? '/who'), { headers: { host: 'svc', ...options.headers }, dispatcher: pool }));
        latencies.push(performance.now() - startedAt);
        sentAt.push(startedAt);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
    return { answers, latencies, sentAt };
  }

  const share = (answers: readonly Answer[], predicate: (a: Answer) => boolean): number => answers.filter(predicate).length / answers.length;
  const percentile = (values: readonly number[], p: number): number => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
  };

  async function apply(route: Record<string, unknown>): Promise<number> {
    const { revision } = await adminClient(server.url).applyTrafficRoutes([{ name: 'svc-route', parentRefs: [{ name: 'svc' }], subsets: SUBSETS, ...route }]);
    await waitFor('the caller to adopt the route', () => (caller.status().routes['svc']?.revision ?? 0) >= revision, { timeoutMs: 5_000, everyMs: 5 });
    return revision;
  }

  before(async () => {
    server = await startServer(dir.path, ['--dns', 'off']);
    for (const version of ['v1', 'v2']) {
      const app = await startApp(version, (req, res) => {
        req.resume();
        if (req.headers['x-trellis-mirror'] !== undefined) {
          mirrored += 1;
          setTimeout(() => res.end('mirror'), MIRROR_DELAY_MS).unref();
          return;
        }
        if (req.url === '/headers') seenHeaders.push(req.headers);
        res.setHeader('x-from-app', 'yes');
        res.end(version);
      });
      apps.push(app);
      sidecars.push(await replica(server.url, 'svc', app, { metadata: { version } }));
    }
    caller = await sidecar({ service: 'caller', controlPlane: server.url, upstreams: ['svc'] });
    sidecars.push(caller);
    await endpointsReached(caller, 'svc', 2);
    pool = new Pool(url(caller.outbound), { connections: 8 });
  });

  after(async () => {
    await pool.close();
    await tearDown(dir, sidecars, apps);
  });

  it('90/10 split: shares within ±3 % over 5,000 requests; x-canary: 1 always reaches v2', async (t) => {
    await apply({
      rules: [
        { matches: [{ headers: [{ name: 'x-canary', value: '1' }] }], backendRefs: [{ subset: 'v2', weight: 1 }] },
        { backendRefs: [{ subset: 'v1', weight: 90 }, { subset: 'v2', weight: 10 }] },
      ],
    });
    const { answers } = await load(5_000);
    assert.equal(share(answers, (a) => a.status !== 200), 0, 'every request answered 200');
    const v2 = share(answers, (a) => a.body === 'v2');
    t.diagnostic(`v2 share over 5,000 requests: ${(v2 * 100).toFixed(2)} %`);
    assert.ok(Math.abs(v2 - 0.1) <= 0.03, `v2 got ${(v2 * 100).toFixed(2)} % (expected 10 ± 3 %)`);

    const canary = await load(300, { headers: { 'x-canary': '1' } });
    assert.deepEqual([...new Set(canary.answers.map((a) => `${a.status} ${a.body}`))], ['200 v2'], 'x-canary: 1 reaches v2, every time');
  });

  it('a weight change applies within 1 s with no failed request while traffic flows', async (t) => {
    let running = true;
    const during: Answer[] = [];
    const sent: number[] = [];
    const traffic = (async () => {
      while (running) {
        const batch = await load(50, { concurrency: 4 });
        during.push(...batch.answers);
        sent.push(...batch.sentAt);
      }
    })();
    await waitFor('traffic to flow', () => during.length >= 100);
    const client = adminClient(server.url);
    const { revision } = await client.applyTrafficRoutes([{ name: 'svc-route', parentRefs: [{ name: 'svc' }], subsets: SUBSETS, rules: [{ backendRefs: [{ subset: 'v1', weight: 0 }, { subset: 'v2', weight: 100 }] }] }]);
    const sentAt = performance.now();
    await waitFor('the caller to adopt the new weights', () => (caller.status().routes['svc']?.revision ?? 0) >= revision, { timeoutMs: 5_000, everyMs: 2 });
    const adoptedAt = performance.now();
    const adoptedMs = adoptedAt - sentAt;
    const mark = during.length;
    await waitFor('more traffic after the change', () => during.length >= mark + 300, { timeoutMs: 20_000 });
    running = false;
    await traffic;
    t.diagnostic(`the new weights reached the caller ${adoptedMs.toFixed(1)} ms after the PUT answered; ${during.length} requests during the change`);
    assert.ok(adoptedMs < 1_000, `adopted in ${Math.round(adoptedMs)} ms`);
    assert.deepEqual(during.filter((a) => a.status !== 200).map((a) => `${a.status} ${String(a.headers['trellis-error'])}`), [], 'no failed request');
    // Requests sent after the adoption all go to v2.
    const afterChange = during.filter((_, i) => (sent[i] ?? 0) > adoptedAt);
    assert.ok(afterChange.length >= 200, `${afterChange.length} requests were sent after the change`);
    assert.ok(afterChange.every((a) => a.body === 'v2'), `after the change ${afterChange.filter((a) => a.body !== 'v2').length} requests still reached v1`);
  });

  it('abort 50 % with 503: the measured share is within ±5 %', async (t) => {
    await apply({ rules: [{ filters: [{ type: 'Fault', fault: { abort: { status: 503, percent: 50 } } }] }] });
    const { answers } = await load(2_500);
    const aborted = answers.filter((a) => a.status === 503);
    const rate = aborted.length / answers.length;
    t.diagnostic(`aborted: ${(rate * 100).toFixed(1)} % of 2,500`);
    assert.ok(Math.abs(rate - 0.5) <= 0.05, `aborted ${(rate * 100).toFixed(1)} % (expected 50 ± 5 %)`);
    assert.ok(aborted.every((a) => a.headers['trellis-error'] === 'TRELLIS_ERR_FAULT_INJECTED'), 'each abort names the injected fault');
    assert.match(aborted[0]?.body ?? '', /route svc-route rule 0 of svc aborts 50% of its requests with 503/);
    assert.equal(answers.filter((a) => a.status !== 503 && a.status !== 200).length, 0, 'the rest are answered');
  });

  it('delay 100 ms on 20 %: the latency distribution shows it', async (t) => {
    const over = (values: readonly number[]): number => values.filter((ms) => ms >= 100).length / values.length;
    await apply({ rules: [{ backendRefs: [{ subset: 'v1' }] }] });
    const baseline = over((await load(600, { concurrency: 4 })).latencies);
    await apply({ rules: [{ backendRefs: [{ subset: 'v1' }], filters: [{ type: 'Fault', fault: { delay: { duration: '100ms', percent: 20 } } }] }] });
    const { answers, latencies } = await load(600, { concurrency: 4 });
    assert.ok(answers.every((a) => a.status === 200));
    const slow = over(latencies);
    // A delayed request takes ≥ 100 ms; of the others, as many as without the fault do (the machine is shared).
    const expected = 0.2 + 0.8 * baseline;
    t.diagnostic(`≥ 100 ms: ${(slow * 100).toFixed(1)} % with the fault, ${(baseline * 100).toFixed(1)} % without (expected ${(expected * 100).toFixed(1)} %); p50 ${percentile(latencies, 50).toFixed(1)} ms, p70 ${percentile(latencies, 70).toFixed(1)} ms, p90 ${percentile(latencies, 90).toFixed(1)} ms`);
    // Which requests are delayed is random: over 600, σ ≈ 1.6 % — margins of 5σ (was 3σ: 1 run in 1,000 failed by chance).
    assert.ok(slow >= 0.12, `${(slow * 100).toFixed(1)} % took 100 ms or more: at least the delayed 20 % must (less 5σ)`);
    assert.ok(Math.abs(slow - expected) <= 0.08, `${(slow * 100).toFixed(1)} % took 100 ms or more (expected ${(expected * 100).toFixed(1)} ± 8 %)`);
  });

  it("mirror: the copies reach the mirror, and the original's p99 is unchanged within noise", async (t) => {
    // Mirrored and plain requests alternate in one run, so that the machine's load weighs on both alike.
    await apply({
      rules: [
        { matches: [{ path: { type: 'Exact', value: '/mirrored' } }], backendRefs: [{ subset: 'v1' }], filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'svc', subset: 'v2' }, percent: 100 } }] },
        { matches: [{ path: { type: 'Exact', value: '/plain' } }], backendRefs: [{ subset: 'v1' }] },
      ],
    });
    const before = caller.status().mirrors ?? { sent: 0, failed: 0, skipped: 0 };
    mirrored = 0;
    const TOTAL = 600;
    const latencies: Record<'plain' | 'mirrored', number[]> = { plain: [], mirrored: [] };
    const bodies = new Set<string>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < TOTAL) {
        const kind = next % 2 === 0 ? 'mirrored' : 'plain';
        next += 1;
        const startedAt = performance.now();
        const answer = await send(url(caller.outbound, `/${kind}`), { headers: { host: 'svc' }, dispatcher: pool });
        latencies[kind].push(performance.now() - startedAt);
        bodies.add(`${answer.status} ${answer.body}`);
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    assert.deepEqual([...bodies], ['200 v1'], 'the originals are answered by v1');
    const skipped = (): number => (caller.status().mirrors?.skipped ?? 0) - before.skipped;
    await waitFor('every copy at the mirror', () => mirrored > 0 && mirrored >= TOTAL / 2 - skipped(), { timeoutMs: 10_000 });
    const p99 = { plain: percentile(latencies.plain, 99), mirrored: percentile(latencies.mirrored, 99) };
    t.diagnostic(`copies received ${mirrored} / ${TOTAL / 2} (skipped ${skipped()}); p99 ${p99.plain.toFixed(1)} ms without the mirror, ${p99.mirrored.toFixed(1)} ms with it; p50 ${percentile(latencies.plain, 50).toFixed(1)} / ${percentile(latencies.mirrored, 50).toFixed(1)} ms (the mirror answers after ${MIRROR_DELAY_MS} ms)`);
    assert.equal(mirrored, TOTAL / 2, 'every mirrored request was copied');
    assert.ok(p99.mirrored < MIRROR_DELAY_MS, 'no original waited for its copy');
    assert.ok(p99.mirrored <= Math.max(p99.plain * 1.5, p99.plain + 20), `p99 ${p99.mirrored.toFixed(1)} ms with the mirror vs ${p99.plain.toFixed(1)} ms without`);
  });

  it('rate limit 100 req/s: the accepted rate is within ±10 %, the rest 429 with Retry-After', async (t) => {
    await apply({ rules: [{ filters: [{ type: 'LocalRateLimit', localRateLimit: { requestsPerSecond: 100, burst: 10 } }] }] });
    const WINDOW_MS = 10_000; // the window: an event-loop stall wastes at most the burst (10) of tokens, diluted over 10 s
    const answers: Answer[] = [];
    const startedAt = performance.now();
    const worker = async (): Promise<void> => {
      while (performance.now() - startedAt < WINDOW_MS) answers.push(await send(url(caller.outbound, '/who'), { headers: { host: 'svc' }, dispatcher: pool }));
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const elapsed = (performance.now() - startedAt) / 1000;
    const accepted = answers.filter((a) => a.status === 200).length;
    const limited = answers.filter((a) => a.status === 429);
    const rate = accepted / elapsed;
    t.diagnostic(`${answers.length} requests in ${elapsed.toFixed(2)} s: ${accepted} accepted (${rate.toFixed(1)}/s), ${limited.length} limited`);
    assert.ok(answers.length > 2 * accepted, 'the load was well above the limit');
    assert.ok(Math.abs(rate - 100) <= 10, `accepted ${rate.toFixed(1)} req/s (expected 100 ± 10)`);
    assert.equal(accepted + limited.length, answers.length, 'the rest are 429');
    for (const answer of limited.slice(0, 20)) {
      assert.equal(answer.headers['trellis-error'], 'TRELLIS_ERR_RATE_LIMITED');
      assert.equal(answer.headers['retry-after'], '1');
    }
    assert.match(limited[0]?.body ?? '', /allows 100 requests\/s/);
  });

  it('header changes on the request and the response', async () => {
    await apply({
      rules: [{
        matches: [{ path: { type: 'Exact', value: '/headers' }, method: 'GET' }],
        filters: [
          { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-env', value: 'canary' }], add: [{ name: 'x-tag', value: 'b' }], remove: ['x-secret'] } },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-routed', value: 'svc-route' }], remove: ['x-from-app'] } },
        ],
      }],
    });
    seenHeaders.length = 0;
    const answer = await send(url(caller.outbound, '/headers'), { headers: { host: 'svc', 'x-env': 'prod', 'x-tag': 'a', 'x-secret': 's' } });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['x-routed'], 'svc-route');
    assert.equal(answer.headers['x-from-app'], undefined, 'removed from the response');
    const seen = seenHeaders[0];
    assert.equal(seen?.['x-env'], 'canary');
    assert.equal(seen?.['x-tag'], 'a, b');
    assert.equal(seen?.['x-secret'], undefined);
    const other = await send(url(caller.outbound, '/other'), { headers: { host: 'svc' } });
    assert.equal(other.headers['x-routed'], undefined, 'a request no rule matches passes untouched');
    assert.equal(other.headers['x-from-app'], 'yes');
  });

  it('keeps the last known routes while the control plane is stopped', async () => {
    await apply({ rules: [{ backendRefs: [{ subset: 'v2' }] }] });
    await server.kill('SIGKILL');
    await waitFor('the caller to notice', () => caller.status().controlPlane === 'stale' && caller.status().routes['svc']?.state === 'stale', { timeoutMs: 15_000 });
    assert.deepEqual(caller.status().routes['svc']?.names, ['svc-route'], 'the last known route is kept');
    const { answers } = await load(100, { concurrency: 4 });
    assert.deepEqual([...new Set(answers.map((a) => `${a.status} ${a.body}`))], ['200 v2'], 'still routed to v2 only');
  });
});
