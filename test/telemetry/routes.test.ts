/**
 * Per-route metrics: a known traffic mix through a caller's sidecar (outbound routes declared
 * on its upstream) to a callee's sidecar (inbound routes declared for its service) shows up
 * in both sidecars' /metrics per route, an unmatched request as route="[default]", never as
 * its raw path; the access log names the route too; bad route declarations are refused with
 * an error naming the field.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { parseSidecarConfig } from '../../src/proxy/config.js';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, send, sidecar, startApp, tearDown, url, type App } from '../proxy/helpers.js';
import { metricValue } from './prometheus.js';

const dir = tempDir('routes');
const sidecars: Sidecar[] = [];
const apps: App[] = [];
const calleeLog = join(dir.path, 'callee-access.log');
let server: ServerProcess;
let caller: Sidecar;
let callee: Sidecar;

const ROUTES = [
  { name: 'get-order', method: 'GET', path: '/orders/' },
  { name: 'create-order', method: 'POST', path: '/orders' },
];

before(async () => {
  server = await startServer(dir.path);
  const app = await startApp('orders');
  apps.push(app);
  callee = await replica(server.url, 'orders', app, { routes: ROUTES, telemetry: { accessLog: calleeLog, report: '200ms' } });
  sidecars.push(callee);
  caller = await sidecar({ service: 'web', controlPlane: server.url, upstreams: [{ service: 'orders', routes: ROUTES }] });
  sidecars.push(caller);
  await endpointsReached(caller, 'orders', 1);
});
after(() => tearDown(dir, sidecars, apps));

it('counts requests per declared route on both directions, the rest as [default]', async () => {
  const mix: Array<[string, string, number]> = [['GET', '/orders/7', 3], ['POST', '/orders', 2], ['GET', '/health/deep', 4], ['DELETE', '/orders/7', 1]];
  for (const [method, path, times] of mix) {
    for (let i = 0; i < times; i += 1) {
      const answer = await send(url(caller.outbound, path), { method, headers: { host: 'orders' } });
      assert.equal(answer.status, 200);
    }
  }
  const expected: Record<string, number> = { 'get-order': 3, 'create-order': 2, '[default]': 5 };
  for (const [side, direction] of [[callee, 'inbound'], [caller, 'outbound']] as const) {
    const text = await side.metrics!.exposition();
    for (const [route, count] of Object.entries(expected)) {
      assert.equal(metricValue(text, 'request_total', { direction, src_service: 'web', dst_service: 'orders', route }), count, `${direction} ${route}:\n${text}`);
      assert.equal(metricValue(text, 'response_latency_seconds_count', { direction, src_service: 'web', dst_service: 'orders', route }), count);
      assert.equal(metricValue(text, 'response_total', { direction, src_service: 'web', dst_service: 'orders', route, status_code: '200', classification: 'success' }), count);
    }
    assert.doesNotMatch(text, /route="\/orders/, 'never the raw path');
  }
  const lines = await waitFor('ten access-log lines', () => {
    if (!existsSync(calleeLog)) return undefined;
    const all = readFileSync(calleeLog, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { route: string; authority: string; bytes: number | null });
    return all.length >= 10 ? all : undefined;
  });
  assert.deepEqual(lines.map((l) => l.route).sort(), ['[default]', '[default]', '[default]', '[default]', '[default]', 'create-order', 'create-order', 'get-order', 'get-order', 'get-order']);
  assert.equal(lines[0]?.authority, 'orders');
  assert.equal(lines[0]?.bytes, 'orders'.length);

  // `trellis routes orders`: the same counts per route, from the callee's reports to the control plane.
  type Routes = { service: string; routes: Array<{ route: string; requests: number; successRate: number | null }> };
  const reported = await waitFor('the routes in the control plane', async () => {
    const r = await runCli(['routes', 'orders', '--json', '--window', '15m', '--control-plane', server.url]);
    if (r.code !== 0) return undefined;
    const parsed = JSON.parse(r.stdout) as Routes;
    return parsed.routes.reduce((n, x) => n + x.requests, 0) === 10 ? parsed : undefined;
  }, { timeoutMs: 10_000, everyMs: 200 });
  assert.deepEqual(Object.fromEntries(reported.routes.map((r) => [r.route, r.requests])), expected);
  assert.ok(reported.routes.every((r) => r.successRate === 1));
  const table = await runCli(['routes', 'orders', '--window', '15m', '--control-plane', server.url]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^ROUTE\s+SUCCESS\s+RPS/m);
  assert.match(table.stdout, /^get-order\s+100\.00%/m);
  const missing = await runCli(['routes', 'Not_A_Service', '--control-plane', server.url]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /service/);
});

it('refuses bad route declarations, naming the field', () => {
  const refused = (config: unknown, field: string, message: RegExp): void => {
    assert.throws(() => parseSidecarConfig(config), (err: Error & { field?: string }) => err.field === field && message.test(err.message), field);
  };
  refused({ service: 'web', routes: [{ name: 'a', path: 'orders' }] }, 'routes.0.path', /path must be a path prefix starting with "\/"/);
  refused({ service: 'web', routes: [{ name: 'Get Order', path: '/orders' }] }, 'routes.0.name', /name must be lower-case/);
  refused({ service: 'web', routes: [{ name: 'a', path: '/a', method: 'get' }] }, 'routes.0.method', /method must be an upper-case HTTP method/);
  refused({ service: 'web', routes: [{ name: 'a', path: '/a' }, { name: 'a', path: '/b' }] }, 'routes.1.name', /declared twice \(also routes\.0\)/);
  refused({ service: 'web', upstreams: [{ service: 'orders', routes: [{ path: '/a' }] }] }, 'upstreams.0.routes.0.name', /name is required/);
  refused({ service: 'web', routes: [{ name: 'a', path: '/a', prefix: true }] }, 'routes.0.prefix', /unknown field "prefix"/);
});
