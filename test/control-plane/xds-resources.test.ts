/**
 * The xDS resources Trellis generates from routes and policies (src/control-plane/xds/routes.ts,
 * rbac.ts), as pure functions: the precedence order, segment-wise prefixes, matches no gRPC call
 * can meet left out, one cluster per subset; the RBAC filters for each kind of default.
 * Their behaviour with real gRPC clients and servers: xds-routes.test.ts, xds-security.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { routeConfiguration, subsetsOf } from '../../src/control-plane/xds/routes.js';
import { rbacFilters } from '../../src/control-plane/xds/rbac.js';
import { DEFAULT_UPSTREAM_POLICY } from '../../src/proxy/policy.js';
import { parseRoute } from '../../src/proxy/routing/schema.js';
import { DEFAULT_SCOPE } from '../../src/security/authz/engine.js';

interface XdsRoute { name: string; match: Record<string, unknown>; route: Record<string, unknown> }

function routesOf(body: Record<string, unknown>): XdsRoute[] {
  return (body['virtual_hosts'] as Array<{ routes: XdsRoute[] }>)[0]?.routes ?? [];
}

const spec = parseRoute({
  name: 'r', parentRefs: [{ name: 'svc' }], subsets: { v1: { version: 'v1' }, v2: { version: 'v2' } },
  rules: [
    { matches: [{ path: { type: 'PathPrefix', value: '/pkg.Svc' } }], backendRefs: [{ subset: 'v1', weight: 3 }, { subset: 'v2', weight: 1 }, { subset: 'v1', weight: 0 }] },
    { matches: [{ path: { type: 'Exact', value: '/pkg.Svc/Get' } }], backendRefs: [{ subset: 'v2', weight: 1 }] },
    { matches: [{ queryParams: [{ name: 'a', value: 'b' }] }], backendRefs: [{ subset: 'v2', weight: 1 }] },
  ],
});

describe('xDS resources from routes and policies', () => {
  it('routes: the precedence order, segment-wise prefixes, query matches left out, the default last', () => {
    const routes = routesOf(routeConfiguration('svc', DEFAULT_UPSTREAM_POLICY, [spec]));
    assert.deepEqual(routes.map((r) => r.name), ['r/1/0', 'r/0/0', 'default'], JSON.stringify(routes));
    assert.equal(routes[0]?.match['path'], '/pkg.Svc/Get');
    const regex = (routes[1]?.match['safe_regex'] as { regex: string }).regex;
    assert.ok(new RegExp(`^${regex}$`).test('/pkg.Svc/Get') && !new RegExp(`^${regex}$`).test('/pkg.SvcX/Get'), `prefix /pkg.Svc is not segment-wise: ${regex}`);
    assert.deepEqual(routes[1]?.route['weighted_clusters'], { clusters: [{ name: 'svc/version=v1', weight: { value: 3 } }, { name: 'svc/version=v2', weight: { value: 1 } }] });
    assert.equal(routes[2]?.route['cluster'], 'svc');
    assert.deepEqual([...subsetsOf('svc', [spec]).keys()].sort(), ['svc/version=v1', 'svc/version=v2']);
  });

  it('RBAC: none without policies; a deny filter; an allow filter only when the default is deny', () => {
    assert.deepEqual(rbacFilters('svc', [], DEFAULT_SCOPE), []);
    const denyOnly = rbacFilters('svc', [{ name: 'p', service: 'svc', rules: [{ action: 'deny', from: ['caller'], paths: ['/pkg.Svc'] }] }], DEFAULT_SCOPE);
    assert.deepEqual(denyOnly.map((f) => f['name']), ['trellis.rbac.deny']);
    const policies = (denyOnly[0]?.['typed_config'] as { rules: { action: string; policies: Record<string, { principals: unknown[] }> } }).rules;
    assert.equal(policies.action, 'DENY');
    assert.deepEqual(policies.policies['p/rules.0']?.principals, [{ authenticated: { principal_name: { exact: 'spiffe://trellis.local/ns/default/svc/caller' } } }]);
    assert.ok('trellis/foreign-trust-domain' in policies.policies, 'callers of a foreign trust domain are not denied');
    const closed = rbacFilters('svc', [{ name: 'q', service: '*', default: 'deny', rules: [{ action: 'allow', from: ['*'] }] }], DEFAULT_SCOPE);
    assert.deepEqual(closed.map((f) => f['name']), ['trellis.rbac.deny', 'trellis.rbac.allow']);
  });
});
