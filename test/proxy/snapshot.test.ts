/**
 * The seam between the agent and the data plane: snapshots are frozen and versioned, a
 * publish swaps them whole, the data plane's endpoint tables follow them (keeping balancer
 * state, taking a new strategy when the policy says so), and a request keeps the policy of
 * the snapshot it arrived under while the next request gets the new one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Endpoint } from '../../src/balancer/types.js';
import { EndpointTables } from '../../src/proxy/endpoints.js';
import { OutlierDetectors } from '../../src/proxy/layers/outlier.js';
import { parseUpstreamPolicy } from '../../src/proxy/policy.js';
import type { Pipelines } from '../../src/proxy/routes.js';
import { SnapshotRoutes } from '../../src/proxy/snapshot-routes.js';
import { SnapshotCell, type SnapshotContent, type UpstreamView } from '../../src/proxy/snapshot.js';
import type { Handler, ProxyRequest } from '../../src/proxy/types.js';
import { endpoint, request, response } from './layers/fixtures.js';

function view(endpoints: readonly Endpoint[], policy: unknown = {}, revision = 1): UpstreamView {
  return Object.freeze({
    service: 'svc', state: 'connected', revision, registered: endpoints.length, endpoints: Object.freeze([...endpoints]),
    policy: parseUpstreamPolicy(policy, ''), policySource: { serviceDefaultsRevision: undefined, overrides: [] },
  });
}

function content(upstream: UpstreamView): SnapshotContent {
  return { upstreams: new Map([['svc', upstream]]), authorization: undefined, tls: undefined };
}

describe('snapshots', () => {
  it('are numbered, frozen, and swapped whole', () => {
    const cell = new SnapshotCell(content(view([endpoint('a')])));
    const first = cell.current();
    assert.equal(first.version, 1);
    assert.ok(Object.isFrozen(first));
    assert.throws(() => (first.upstreams as Map<string, UpstreamView>).set('other', view([])), /immutable/);
    assert.throws(() => (first.upstreams as Map<string, UpstreamView>).delete('svc'), /immutable/);
    const seen: Array<[number, number]> = [];
    cell.subscribe((next, previous) => seen.push([previous.version, next.version]));
    const second = cell.publish(content(view([endpoint('a'), endpoint('b')])));
    assert.equal(second.version, 2);
    assert.equal(cell.current(), second);
    assert.equal(first.upstreams.get('svc')?.endpoints.length, 1, 'an old snapshot never changes');
    assert.deepEqual(seen, [[1, 2]]);
  });

  it('the endpoint tables follow each publish; a new strategy gets a new balancer, the same one keeps its state', () => {
    const a = endpoint('a');
    const b = endpoint('b');
    const cell = new SnapshotCell(content(view([a, b])));
    const tables = new EndpointTables({ snapshots: cell, detectors: new OutlierDetectors() });
    const cluster = tables.get('svc');
    assert.ok(cluster !== undefined);
    const firstBalancer = cluster.balancer;
    const picks = (n: number): string[] => Array.from({ length: n }, () => {
      const pick = cluster.pick(new Set());
      return pick.kind === 'pick' ? pick.endpoint.id : pick.kind;
    });
    assert.deepEqual(picks(2).sort(), ['a', 'b']);

    cell.publish(content(view([a, b], {}, 2)));
    assert.equal(cluster.balancer, firstBalancer, 'same strategy: the balancer (and its state) is kept');
    cell.publish(content(view([a], {}, 3)));
    assert.deepEqual(picks(3), ['a', 'a', 'a']);
    assert.equal(cluster.revision, 3);

    cell.publish(content(view([a, b], { loadBalancer: 'least-request' }, 4)));
    assert.notEqual(cluster.balancer, firstBalancer, 'a new strategy: a new balancer');
    assert.deepEqual(new Set(picks(20)), new Set(['a', 'b']));
    tables.close();
  });

  it('a request keeps the policy it arrived under; the next one gets the new policy', async () => {
    const cell = new SnapshotCell(content(view([endpoint('a')], { timeout: '1s' })));
    const seen: number[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const pipeline: Handler = async (r: ProxyRequest) => {
      seen.push(r.target.policy.timeoutMs);
      await gate;
      seen.push(r.target.policy.timeoutMs);
      return response(200, undefined);
    };
    const pipelines: Pipelines = { http: pipeline, http2: pipeline, upgrade: pipeline };
    const routes = new SnapshotRoutes(cell, [{ service: 'svc', protocol: 'http' }], pipelines);
    const route = routes.get('svc');
    assert.ok(route !== undefined && route.failure === undefined);
    const first = route.handler(request({ target: route.target }));
    cell.publish(content(view([endpoint('a')], { timeout: '2s' })));
    const after = routes.get('svc');
    assert.ok(after !== undefined && after.failure === undefined);
    assert.equal(after.target.policy.timeoutMs, 2_000);
    // A listener holding the old route (a per-upstream port) is re-pinned at entry.
    const second = route.handler(request({ target: route.target }));
    release();
    await Promise.all([first, second]);
    assert.deepEqual(seen, [1_000, 2_000, 1_000, 2_000], 'the first request saw 1 s throughout, the second 2 s');
    routes.close();
  });
});
