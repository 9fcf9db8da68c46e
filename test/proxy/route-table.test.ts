/**
 * The compiled route table (src/proxy/routing/table.ts): the Gateway API's precedence (Exact
 * before prefix, longest path, method, most headers, most query parameters, then route name
 * and rule order), segment-wise prefixes, query and regular-expression matches, weighted
 * backend choice, and the rule's timeouts and retries over the service's policy.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteSpec } from '../../src/core/route.js';
import { DEFAULT_UPSTREAM_POLICY } from '../../src/proxy/policy.js';
import { parseRoute } from '../../src/proxy/routing/schema.js';
import { chooseBackend, RouteTable } from '../../src/proxy/routing/table.js';

const route = (name: string, rules: unknown[]): RouteSpec => parseRoute({ name, parentRefs: [{ name: 'svc' }], subsets: { v1: { version: 'v1' }, v2: { version: 'v2' } }, rules });
const rule = (tag: string, match: Record<string, unknown>) => ({ matches: [match], filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-tag', value: tag }] } }] });

function tagOf(table: RouteTable, method: string, path: string, headers: Record<string, string> = {}): string | undefined {
  return table.match(method, path, headers)?.rule.requestHeaders?.set[0]?.value;
}

describe('route table', () => {
  const table = new RouteTable('svc', [
    route('b-route', [
      rule('root', {}),
      rule('api', { path: { value: '/api' } }),
      rule('api-get', { path: { value: '/api' }, method: 'GET' }),
      rule('api-get-canary', { path: { value: '/api' }, method: 'GET', headers: [{ name: 'x-canary', value: '1' }] }),
      rule('api-orders', { path: { value: '/api/orders' } }),
      rule('exact', { path: { type: 'Exact', value: '/api/orders' } }),
      rule('debug', { path: { value: '/api' }, method: 'GET', headers: [{ name: 'x-canary', value: '1' }], queryParams: [{ name: 'debug', type: 'RegularExpression', value: '1|true' }] }),
    ]),
    route('a-route', [rule('a-root', { path: { value: '/' } })]),
  ], DEFAULT_UPSTREAM_POLICY);

  it('follows the precedence order', () => {
    assert.equal(tagOf(table, 'GET', '/api/orders'), 'exact', 'Exact before any prefix');
    assert.equal(tagOf(table, 'GET', '/api/orders/7'), 'api-orders', 'the longest prefix');
    assert.equal(tagOf(table, 'POST', '/api/x'), 'api', 'no method match: the plain prefix');
    assert.equal(tagOf(table, 'GET', '/api/x'), 'api-get', 'a method match before none');
    assert.equal(tagOf(table, 'GET', '/api/x', { 'x-canary': '1' }), 'api-get-canary', 'more header matches first');
    assert.equal(tagOf(table, 'GET', '/api/x?debug=true', { 'x-canary': '1' }), 'debug', 'more query matches first');
    assert.equal(tagOf(table, 'GET', '/api/x?debug=no', { 'x-canary': '1' }), 'api-get-canary', 'the regex is anchored');
    assert.equal(tagOf(table, 'GET', '/other'), 'a-root', 'equal matches: the route name that sorts first');
  });

  it('matches prefixes by segments, ignoring the query', () => {
    assert.equal(tagOf(table, 'POST', '/apis'), 'a-root', '/api does not match /apis');
    assert.equal(tagOf(table, 'POST', '/api/'), 'api');
    assert.equal(tagOf(table, 'POST', '/api?x=1'), 'api');
    const none = new RouteTable('svc', [route('r', [rule('only', { path: { type: 'Exact', value: '/a' } })])], DEFAULT_UPSTREAM_POLICY);
    assert.equal(none.match('GET', '/b', {}), undefined, 'no rule: undefined');
    assert.equal(tagOf(none, 'GET', '/a?q=1'), 'only');
  });

  it('chooses backends by weight and gives the rule its timeouts and retries', () => {
    const split = new RouteTable('svc', [route('s', [{
      backendRefs: [{ subset: 'v1', weight: 90 }, { subset: 'v2', weight: 10 }, { subset: 'v2', weight: 0 }],
      timeouts: { request: '2s', backendRequest: '500ms' }, retry: { attempts: 2, codes: [503] },
    }])], DEFAULT_UPSTREAM_POLICY);
    const selected = split.match('GET', '/', {});
    assert.ok(selected !== undefined);
    assert.equal(chooseBackend(selected.rule, 0)?.subset, 'v1');
    assert.equal(chooseBackend(selected.rule, 0.899)?.subset, 'v1');
    assert.equal(chooseBackend(selected.rule, 0.9)?.subset, 'v2');
    assert.equal(chooseBackend(selected.rule, 0.999999)?.weight, 10, 'never the weight-0 backend');
    const { target } = selected.rule.backends[1] ?? { target: undefined };
    assert.deepEqual(target?.subset, { name: 'v2', labels: { version: 'v2' } });
    assert.equal(target?.policy.timeoutMs, 2_000);
    assert.equal(target?.policy.perTryTimeoutMs, 500);
    assert.equal(target?.policy.retry.maxAttempts, 2);
    assert.deepEqual(target?.policy.retry.retryOnStatus, [503]);
    assert.equal(target?.policy.circuitBreaker, DEFAULT_UPSTREAM_POLICY.circuitBreaker, 'the rest is the service\'s');
  });
});
