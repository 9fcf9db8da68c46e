/**
 * Zone-aware routing in the endpoint table (src/proxy/discovery/cluster.ts): a caller in zone
 * a sends to zone a only; it spills over to every zone when zone a has no endpoint that can
 * take the request (all tried or ejected) or when zone a is overloaded (more than
 * spillInFlight requests in flight per endpoint), and returns once the load is done; a route's
 * subset and the zone combine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Endpoint } from '../../src/balancer/types.js';
import { Cluster } from '../../src/proxy/discovery/cluster.js';
import { OutlierDetectors } from '../../src/proxy/layers/outlier.js';
import { DEFAULT_UPSTREAM_POLICY } from '../../src/proxy/policy.js';
import type { UpstreamView } from '../../src/proxy/snapshot.js';

const endpoint = (id: string, zone: string, version = 'v1'): Endpoint => Object.freeze({ id, address: '127.0.0.1', port: 1, weight: 1, metadata: Object.freeze({ zone, version }) });

function cluster(endpoints: Endpoint[], spillInFlight = 2): Cluster {
  const view: UpstreamView = { service: 'svc', state: 'connected', revision: 1, registered: endpoints.length, endpoints, policy: DEFAULT_UPSTREAM_POLICY, policySource: { serviceDefaultsRevision: undefined, overrides: [] } };
  return new Cluster(view, new OutlierDetectors().for('svc'), () => undefined, { zone: 'a', spillInFlight });
}

function pickId(c: Cluster, tried: Set<string> = new Set(), labels?: Record<string, string>): string {
  const pick = c.pick(tried, undefined, labels === undefined ? undefined : { name: 's', labels });
  assert.equal(pick.kind, 'pick');
  if (pick.kind !== 'pick') return '';
  pick.done({ latencyMs: 1, success: true });
  return pick.endpoint.id;
}

describe('zone-aware routing', () => {
  it('prefers the caller\'s zone', () => {
    const c = cluster([endpoint('a1', 'a'), endpoint('a2', 'a'), endpoint('b1', 'b'), endpoint('b2', 'b')]);
    const ids = new Set(Array.from({ length: 100 }, () => pickId(c)));
    assert.deepEqual([...ids].sort(), ['a1', 'a2']);
  });

  it('spills over when no endpoint of the zone can take the request', () => {
    const c = cluster([endpoint('a1', 'a'), endpoint('b1', 'b')]);
    assert.equal(pickId(c, new Set(['a1'])), 'b1', 'a retry that already tried a1 goes to zone b');
    const none = cluster([endpoint('b1', 'b')]);
    assert.equal(pickId(none), 'b1', 'no endpoint in zone a at all');
  });

  it('spills over while the zone is overloaded, and comes back when the load is done', () => {
    const c = cluster([endpoint('a1', 'a'), endpoint('b1', 'b'), endpoint('b2', 'b')], 2);
    const held = Array.from({ length: 2 }, () => c.pick(new Set()));
    assert.ok(held.every((p) => p.kind === 'pick' && p.endpoint.id === 'a1'), 'two in flight on a1 (the limit)');
    // Every spill while the zone is overloaded goes to zone b (the balancer picks at random
    // among candidates: repeat so that a spill to a1 would show).
    const spilled = Array.from({ length: 50 }, () => c.pick(new Set()));
    assert.deepEqual([...new Set(spilled.map((p) => (p.kind === 'pick' ? p.endpoint.id : p.kind)))].sort(), ['b1', 'b2'], 'the spills go to zone b, none to the busy a1');
    for (const p of [...held, ...spilled]) if (p.kind === 'pick') p.done({ latencyMs: 1, success: true });
    assert.equal(pickId(c), 'a1', 'back to zone a once the load is done');
  });

  it('a route subset and the zone combine', () => {
    const c = cluster([endpoint('a1', 'a', 'v1'), endpoint('a2', 'a', 'v2'), endpoint('b2', 'b', 'v2')]);
    assert.equal(pickId(c, new Set(), { version: 'v2' }), 'a2');
    assert.equal(pickId(c, new Set(['a2']), { version: 'v2' }), 'b2', 'spills within the subset');
  });
});
