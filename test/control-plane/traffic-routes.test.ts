/**
 * Traffic routes through a real control plane process: the API (apply, list by service,
 * get, delete, watch), bad input refused with its code and the field named and nothing
 * stored (unknown subset, weights summing to 0, a repeated match, unknown fields and filter
 * types, a bad regular expression), overlaps between routes reported, writes for the admin
 * token only, and the CLI (`trellis route apply -f | list | delete | check`).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RouteEvent, StoredRoute } from '../../src/core/route.js';
import { adminApi as api, api as rawApi, killAll, runCli, startServer, tempDir, type ApiErrorBody, type ServerProcess } from '../helpers/processes.js';
import { adminClient, adminEnv } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

interface Applied { routes: Array<{ route: StoredRoute; created: boolean }>; overlaps: Array<{ service: string; wins: string; shadowed: string }>; revision: number }
interface List { routes: StoredRoute[]; revision: number }

const SUBSETS = { v1: { version: 'v1' }, v2: { version: 'v2' } };
const split = (name: string, service = 'orders') => ({
  name, parentRefs: [{ name: service }], subsets: SUBSETS,
  rules: [{ backendRefs: [{ subset: 'v1', weight: 90 }, { subset: 'v2', weight: 10 }] }],
});

describe('traffic routes: API and CLI', () => {
  const dir = tempDir('traffic-routes');
  let server: ServerProcess;
  const cli = (...args: string[]) => runCli([...args, '--control-plane', server.url], adminEnv(server.url));
  const url = (path: string): string => `${server.url}/v1/traffic-routes${path}`;

  before(async () => { server = await startServer(dir.path, ['--dns', 'off']); });
  after(() => { killAll(); dir.remove(); });

  it('apply creates then replaces; get, list (all or by service), delete', async () => {
    const created = await api<Applied>(url(''), 'PUT', { routes: [split('orders-split'), split('ledger-split', 'ledger')] });
    assert.equal(created.status, 200, JSON.stringify(created.json));
    assert.deepEqual(created.json.routes.map((r) => [r.route.name, r.created]), [['orders-split', true], ['ledger-split', true]]);
    assert.deepEqual(created.json.routes[0]?.route.spec, split('orders-split'), 'stored as written');
    const replaced = await api<Applied>(url(''), 'PUT', { routes: [split('orders-split')] });
    assert.equal(replaced.json.routes[0]?.created, false);

    assert.deepEqual((await api<List>(url(''))).json.routes.map((r) => r.name), ['ledger-split', 'orders-split']);
    assert.deepEqual((await api<List>(url('?service=orders'))).json.routes.map((r) => r.name), ['orders-split']);
    const one = await api<{ route: StoredRoute }>(url('/orders-split'));
    assert.equal(one.json.route.revision, replaced.json.revision);

    assert.equal((await api(url('/ledger-split'), 'DELETE')).status, 200);
    const gone = await api(url('/ledger-split'));
    assert.equal(gone.status, 404);
    assert.equal(gone.json.error.code, 'TRELLIS_ERR_TRAFFIC_ROUTE_NOT_FOUND');
  });

  it('bad input is refused with the field named, and stores nothing', async () => {
    const base = split('bad');
    const rule = (extra: Record<string, unknown>) => ({ ...base, rules: [{ ...base.rules[0], ...extra }] });
    const cases: Array<[unknown, string, RegExp]> = [
      [rule({ backendRefs: [{ subset: 'v3', weight: 1 }] }), 'routes.0.rules.0.backendRefs.0.subset', /unknown subset "v3".*declared: v1, v2/],
      [rule({ backendRefs: [{ subset: 'v1', weight: 0 }, { subset: 'v2', weight: 0 }] }), 'routes.0.rules.0.backendRefs', /sum to 0/],
      [{ ...base, rules: [{ matches: [{ path: { value: '/a' } }] }, { matches: [{ path: { type: 'PathPrefix', value: '/a/' } }] }] }, 'routes.0.rules.1.matches.0', /same as rules\.0\.matches\.0/],
      [rule({ filters: [{ type: 'Teleport' }] }), 'routes.0.rules.0.filters.0.type', /filter type must be/],
      [rule({ filters: [{ type: 'Fault', fault: { abort: { status: 503, percent: 150 } } }] }), 'routes.0.rules.0.filters.0.fault.abort.percent', /between 0 and 100/],
      [rule({ filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'orders', subset: 'v9' } } }] }), 'routes.0.rules.0.filters.0.requestMirror.backendRef.subset', /unknown subset "v9"/],
      [rule({ matches: [{ headers: [{ name: 'x', type: 'RegularExpression', value: '(' }] }] }), 'routes.0.rules.0.matches.0.headers.0.value', /not a valid regular expression/],
      [rule({ timeouts: { request: '1s', backendRequest: '2s' } }), 'routes.0.rules.0.timeouts.backendRequest', /cannot be longer/],
      [{ ...base, weights: 1 }, 'routes.0.weights', /unknown field "weights"/],
      [{ ...base, parentRefs: [] }, 'routes.0.parentRefs', /at least one service/],
      [rule({ backendRefs: [{ name: 'payments', subset: 'v1' }] }), 'routes.0.rules.0.backendRefs.0.name', /not a parent/],
    ];
    for (const [route, field, message] of cases) {
      const answer = await api(url(''), 'PUT', { routes: [split('good-one'), route] });
      const shifted = field.replace(/^routes\.0/, 'routes.1');
      assert.equal(answer.status, 400, JSON.stringify(route));
      assert.equal(answer.json.error.code, 'TRELLIS_ERR_VALIDATION');
      assert.equal(answer.json.error.field, shifted, `${JSON.stringify(route)}: ${answer.json.error.message}`);
      assert.match(answer.json.error.message, message);
    }
    assert.equal((await api(url('/good-one'))).status, 404, 'nothing was stored');
  });

  it('an identical match in two routes of a service is reported: the name that sorts first takes it', async () => {
    const canary = (name: string) => ({ name, parentRefs: [{ name: 'search' }], subsets: SUBSETS, rules: [{ matches: [{ headers: [{ name: 'x-canary', value: '1' }] }], backendRefs: [{ subset: 'v2' }] }] });
    await api(url(''), 'PUT', { routes: [canary('a-canary')] });
    const second = await api<Applied>(url(''), 'PUT', { routes: [canary('b-canary')] });
    assert.equal(second.status, 200);
    assert.deepEqual(second.json.overlaps, [{ service: 'search', wins: 'a-canary rules.0.matches.0', shadowed: 'b-canary rules.0.matches.0' }]);
  });

  it('writes need the admin token; a read-only token reads', async () => {
    const read = await api<{ token: string }>(`${server.url}/v1/tokens`, 'POST', { readOnly: true });
    const reader = { authorization: `Bearer ${read.json.token}` };
    const write = await rawApi<ApiErrorBody>(url(''), 'PUT', { routes: [split('sneaky')] }, reader);
    assert.equal(write.status, 403);
    assert.equal(write.json.error.code, 'TRELLIS_ERR_PERMISSION_DENIED');
    assert.equal((await rawApi(url('/orders-split'), 'DELETE', undefined, reader)).status, 403);
    assert.equal((await rawApi(url(''), 'GET', undefined, reader)).status, 200);
    assert.equal((await rawApi(url(''), 'GET', undefined, { authorization: '' })).status, 401, 'no token, no routes');
  });

  it('the watch streams the routes of the services asked for; a route moved away arrives as a delete', async () => {
    const client = adminClient(server.url);
    const start = await client.trafficRoutes(['watched']);
    const events: RouteEvent[] = [];
    const abort = new AbortController();
    const watching = client.watchTrafficRoutes({ services: ['watched'], after: start.revision, signal: abort.signal }, (e) => events.push(e));
    await client.applyTrafficRoutes([split('w-route', 'watched')]);
    await client.applyTrafficRoutes([split('w-route', 'elsewhere')]);
    await waitFor('two events', () => events.length >= 2);
    abort.abort();
    await watching;
    assert.deepEqual(events.map((e) => [e.type, e.name]), [['put', 'w-route'], ['delete', 'w-route']]);
  });

  it('trellis route apply -f, list, check, delete; a bad file names the line and the field', async () => {
    const file = join(dir.path, 'routes.yaml');
    writeFileSync(file, [
      'name: cart-canary',
      'parentRefs: [{ name: cart }]',
      'subsets: { v1: { version: v1 }, v2: { version: v2 } }',
      'rules:',
      '  - matches: [{ headers: [{ name: x-canary, value: "1" }] }]',
      '    backendRefs: [{ subset: v2 }]',
      '  - backendRefs: [{ subset: v1, weight: 90 }, { subset: v2, weight: 10 }]',
      '    filters: [{ type: Fault, fault: { abort: { status: 503, percent: 5 } } }]',
      '    timeouts: { request: 2s }',
      '',
    ].join('\n'));
    const applied = await cli('route', 'apply', '-f', file);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /cart-canary\s+created/);

    const listed = await cli('route', 'list', '--service', 'cart');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /cart-canary\s+cart\s+0: v2 1; 1: v1 90\/v2 10 \[Fault\]/);

    const canary = await cli('route', 'check', '--from', 'web', '--to', 'cart', '--path', '/items', '-H', 'x-canary:1');
    assert.equal(canary.code, 0, canary.stderr);
    assert.match(canary.stdout, /web → cart: GET \/items/);
    assert.match(canary.stdout, /route cart-canary rule 0 match 0 \(path PathPrefix \/, header x-canary = 1\)/);
    assert.match(canary.stdout, /100% to subset v2 \(version=v2\): NO healthy instance/);

    const plain = await cli('route', 'check', '--to', 'cart', '--path', '/items', '--json');
    assert.equal(plain.code, 0, plain.stderr);
    const explained = JSON.parse(plain.stdout) as { matched: { rule: number }; backends: Array<{ subset: string; percent: number }>; filters: string[]; timeoutMs: number };
    assert.equal(explained.matched.rule, 1);
    assert.deepEqual(explained.backends.map((b) => [b.subset, b.percent]), [['v1', 90], ['v2', 10]]);
    assert.deepEqual(explained.filters, ['Fault abort 503 on 5%']);
    assert.equal(explained.timeoutMs, 2_000);

    const bad = join(dir.path, 'bad.yaml');
    writeFileSync(bad, ['name: cart-canary', 'parentRefs: [{ name: cart }]', 'subsets: { v1: { version: v1 } }', 'rules:', '  - backendRefs:', '      - { subset: v3, weight: 1 }', ''].join('\n'));
    const refused = await cli('route', 'apply', '-f', bad);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /bad\.yaml:6: .*unknown subset "v3"/);
    assert.match(refused.stderr, /field=rules\.0\.backendRefs\.0\.subset/);

    const deleted = await cli('route', 'delete', 'cart-canary');
    assert.equal(deleted.code, 0, deleted.stderr);
    const missing = await cli('route', 'delete', 'cart-canary');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /TRELLIS_ERR_TRAFFIC_ROUTE_NOT_FOUND/);
  });
});
