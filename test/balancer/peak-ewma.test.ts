import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { peakEwma, type Balancer } from '../../src/balancer/index.js';
import { drive, endpoints, manualClock, pickedId, seededRandom, share, type ManualClock } from './fixtures.js';

function balancer(config?: unknown): { b: Balancer; clock: ManualClock } {
  const clock = manualClock();
  return { b: peakEwma.configure(config).create({ random: seededRandom(11), now: clock.now }), clock };
}

describe('peak-ewma', () => {
  it('shifts traffic away from a slow endpoint', () => {
    const { b, clock } = balancer();
    b.update(endpoints({ slow: 1, fast1: 1, fast2: 1 }));
    const latencyMs = (id: string) => (id === 'slow' ? 200 : 5);
    drive(b, 1_000, { clock, latencyMs });
    const counts = drive(b, 5_000, { clock, latencyMs });
    // Only picked when both draws are the slow endpoint: (1/3)² ≈ 11%.
    assert.ok(share(counts, 'slow', 5_000) < 0.15, `slow endpoint got ${share(counts, 'slow', 5_000)}`);
  });

  it('reacts to a latency spike at once (peak) and returns traffic as the endpoint recovers (decay)', () => {
    const { b, clock } = balancer({ decay: '1s' });
    b.update(endpoints({ a: 1, b: 1, c: 1 }));
    let slow = true;
    const jitter = seededRandom(5);
    // Latencies vary (8–12 ms) as real ones do; while slow, a answers in 500 ms.
    const latencyMs = (id: string) => (id === 'a' && slow ? 500 : 8 + 4 * jitter());
    const during = drive(b, 2_000, { clock, latencyMs });
    assert.ok(share(during, 'a', 2_000) < 0.15);
    slow = false;
    drive(b, 10_000, { clock, latencyMs });
    const after = drive(b, 3_000, { clock, latencyMs });
    assert.ok(share(after, 'a', 3_000) > 0.25, `recovered endpoint got ${share(after, 'a', 3_000)}`);
  });

  it('counts requests in flight: an endpoint as fast as the others but busy gets less', () => {
    const { b, clock } = balancer();
    b.update(endpoints({ a: 1, b: 1, c: 1 }));
    drive(b, 300, { clock });
    const held = [];
    for (let i = 0; held.length < 3 && i < 1_000; i++) {
      const r = b.pick();
      if (r.kind === 'pick' && r.endpoint.id === 'a') held.push(r);
      else if (r.kind === 'pick') r.done({ latencyMs: 10, success: true });
    }
    const counts = drive(b, 3_000, { clock });
    assert.ok(share(counts, 'a', 3_000) < 0.15);
  });

  it('probes a newly added endpoint at once, then treats it by its measured latency', () => {
    const { b, clock } = balancer();
    b.update(endpoints({ a: 1, b: 1 }));
    drive(b, 500, { clock, latencyMs: () => 20 });
    b.update(endpoints({ a: 1, b: 1, fresh: 1 }));
    // Unsampled and idle, the new endpoint costs 0: the first pick that draws it takes it.
    const firstFew = Array.from({ length: 5 }, () => pickedId(b));
    assert.ok(firstFew.includes('fresh'), firstFew.join(' '));
  });

  it('does not pile requests onto an endpoint it has no sample for yet', () => {
    // With 10 draws per pick both endpoints are (almost surely) compared every time.
    const { b } = balancer({ choiceCount: 10 });
    b.update(endpoints({ a: 1, b: 1 }));
    const first = b.pick();
    const second = b.pick();
    assert.ok(first.kind === 'pick' && second.kind === 'pick');
    assert.notEqual(first.endpoint.id, second.endpoint.id);
  });

  it('validates decay and choiceCount', () => {
    assert.equal(peakEwma.configure().config['decay'], 10_000);
    assert.equal(peakEwma.configure({ decay: '30s' }).config['decay'], 30_000);
    assert.equal(peakEwma.configure({ decay: 2_500 }).config['decay'], 2_500);
    assert.throws(() => peakEwma.configure({ decay: 'soon' }), { code: 'TRELLIS_ERR_VALIDATION', field: 'config.decay' });
    assert.throws(() => peakEwma.configure({ decay: '1ms' }), { field: 'config.decay', message: /between 100 ms and 600000 ms/ });
    assert.throws(() => peakEwma.configure({ choiceCount: 11 }), { field: 'config.choiceCount' });
  });
});
