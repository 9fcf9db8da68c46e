/**
 * A replica's host partitioned (every packet in and out of it dropped: no RST, no ICMP) under a
 * steady GET client and a steady POST client, on hosts made of network namespaces (the fault
 * suite's lab, bench/faults/): 0 failed GETs; the replica out of the caller's table within 2 s,
 * after which no request waited for it; of the POSTs, only those in flight on it may fail — at
 * most 1 s worth — and none waited past the per-try timeout. Needs root and nft; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { Lab, labUnavailable } from '../../bench/faults/lab.js';
import { LabMesh, type ProbeLine } from '../../bench/faults/mesh.js';
import { measure, restore, SCENARIOS } from '../../bench/faults/scenarios.js';
import { DEFAULT_PER_TRY_TIMEOUT_MS } from '../../src/proxy/policy.js';
import { waitFor } from '../helpers/wait.js';

const RATE = 40;
const why = labUnavailable();
let lab: Lab | undefined;
let mesh: LabMesh | undefined;
after(async () => {
  await mesh?.stop().catch(() => undefined);
  await lab?.destroy();
});

type Request = Extract<ProbeLine, { k: 'r' }>;

it('a partitioned replica (packets dropped): 0 failed GETs, out of rotation within 2 s, only POSTs in flight on it fail (≤ 1 s worth), none waits past the per-try timeout',
  { skip: why ?? false, timeout: 120_000 }, async (t) => {
    lab = await Lab.create('p');
    mesh = await LabMesh.start(lab, { getRate: RATE, postRate: RATE });
    const scenario = SCENARIOS.find((s) => s.name === 'replica host partitioned');
    assert.ok(scenario !== undefined);
    const victim = mesh.replicas[1];
    assert.ok(victim !== undefined);
    const caller = await mesh.startCaller();
    const requests = (): Request[] => caller.lines().filter((l): l is Request => l.k === 'r');
    const answeredBy = (id: string): boolean => requests().some((r) => r.by === id);
    await waitFor('traffic on every replica', () => mesh?.replicas.every((r) => answeredBy(r.id)), { timeoutMs: 30_000 });

    const faultAt = Date.now();
    await lab.cut(victim.host);
    // The partition lasts until 4 s of requests were sent after the 2 s allowed to leave rotation.
    await waitFor('requests sent well after the partition', () => requests().some((r) => r.t > faultAt + 6_000), { timeoutMs: 30_000 });
    const healAt = Date.now();
    const lines = await caller.stop();
    mesh.caller = undefined;
    await restore(mesh);

    const result = measure(scenario, lines, victim.id, faultAt, healAt, RATE);
    t.diagnostic(JSON.stringify({ offMs: result.offMs, get: result.get, post: result.post }));
    assert.equal(result.get.failed, 0, `failed GETs: ${JSON.stringify(result.get.failures)}`);
    assert.ok(result.offMs !== undefined && result.offMs <= 2_000, `out of the caller's table ${result.offMs ?? 'never'} ms after the partition`);
    const after = lines.filter((l): l is Request => l.k === 'r' && l.t > faultAt + (result.offMs ?? 0) + 100);
    assert.deepEqual(after.filter((r) => r.s !== 200 || r.by === victim.id), [], 'requests sent after it left failed or went to it');
    assert.ok(result.post.failed <= RATE, `${result.post.failed} POSTs failed (at most ${RATE}: 1 s worth)`);
    const during = lines.filter((l): l is Request => l.k === 'r' && l.t >= faultAt && l.t < healAt);
    const failedPosts = during.filter((r) => r.m === 'POST' && r.s !== 200);
    // Only those in flight on it when it left: sent before it left, ended by the timeout layer.
    for (const r of failedPosts) {
      assert.equal(r.s, 504, `a failed POST: ${JSON.stringify(r)}`);
      assert.ok(r.t <= faultAt + result.offMs + 100, `a POST sent ${r.t - faultAt} ms after the partition failed (it left at ${result.offMs} ms)`);
    }
    const slowest = Math.max(...during.map((r) => r.ms));
    assert.ok(slowest < DEFAULT_PER_TRY_TIMEOUT_MS, `the slowest request took ${slowest} ms: none waited past the per-try timeout (${DEFAULT_PER_TRY_TIMEOUT_MS} ms)`);
  });
