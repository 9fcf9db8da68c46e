import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { leastRequest, type Balancer, type Picked } from '../../src/balancer/index.js';
import { drive, endpoints, seededRandom, share } from './fixtures.js';

function balancer(config?: unknown): Balancer {
  return leastRequest.configure(config).create({ random: seededRandom(3) });
}

/** Pick until `id` has been picked `count` times, leaving those requests in flight; complete the rest. */
function occupy(b: Balancer, id: string, count: number): Picked[] {
  const held: Picked[] = [];
  for (let guard = 0; held.length < count && guard < 10_000; guard++) {
    const r = b.pick();
    if (r.kind !== 'pick') throw new Error('no pick');
    if (r.endpoint.id === id) held.push(r);
    else r.done({ latencyMs: 1, success: true });
  }
  assert.equal(held.length, count);
  return held;
}

describe('least-request', () => {
  it('prefers endpoints with fewer requests in flight', () => {
    const b = balancer();
    b.update(endpoints({ a: 1, b: 1, c: 1 }));
    const held = occupy(b, 'a', 5);
    const counts = drive(b, 3_000);
    // a is only chosen when both draws land on it: (1/3)² of picks.
    assert.ok(share(counts, 'a', 3_000) < 0.15, `busy endpoint got ${share(counts, 'a', 3_000)}`);
    for (const r of held) r.done({ latencyMs: 1, success: true });
    const released = drive(b, 3_000);
    assert.ok(share(released, 'a', 3_000) > 0.28, 'released endpoint did not get its share back');
  });

  it('with more choices, avoids a busy endpoint more strictly', () => {
    const b = balancer({ choiceCount: 4 });
    b.update(endpoints({ a: 1, b: 1, c: 1 }));
    occupy(b, 'a', 5);
    const counts = drive(b, 3_000);
    assert.ok(share(counts, 'a', 3_000) < 0.03);
  });

  it('compares load per unit of weight: weight 4 with 2 in flight beats weight 1 with 1', () => {
    const b = balancer();
    b.update(endpoints({ heavy: 4, light: 1 }));
    occupy(b, 'heavy', 2);
    occupy(b, 'light', 1);
    // Held: heavy 2/4 = 0.5, light 1/1 = 1. Every pick that compares the two takes heavy.
    const first = b.pick();
    assert.equal(first.kind === 'pick' && first.endpoint.id, 'heavy');
  });

  it('keeps in-flight counts across updates for endpoints that stay', () => {
    const b = balancer();
    b.update(endpoints({ a: 1, b: 1, c: 1 }));
    occupy(b, 'a', 5);
    b.update(endpoints({ a: 1, b: 1, c: 1, d: 1 }));
    const counts = drive(b, 3_000);
    assert.ok(share(counts, 'a', 3_000) < 0.1);
  });

  it('validates choiceCount', () => {
    assert.equal(leastRequest.configure().config['choiceCount'], 2);
    assert.throws(() => leastRequest.configure({ choiceCount: 1 }), { code: 'TRELLIS_ERR_VALIDATION', field: 'config.choiceCount' });
    assert.throws(() => leastRequest.configure({ choiceCount: 2.5 }), { field: 'config.choiceCount' });
    assert.throws(() => leastRequest.configure({ choiceCount: '2' }), { field: 'config.choiceCount', message: 'choiceCount must be a number' });
  });
});
