/**
 * Golden metrics end to end: a known traffic mix (900 successes, 100 errors) from a caller's
 * sidecar to a service's sidecar is counted exactly on both sides' /metrics, and
 * `trellis stat --json` (the control plane, from the sidecars' reports) shows the same
 * counts and a 90% success rate, with a latency histogram whose count matches.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { Pool } from 'undici';
import type { Sidecar } from '../../src/agent/sidecar.js';
import type { ServiceStats } from '../../src/telemetry/aggregate.js';
import { runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { adminHeaders } from '../helpers/tokens.js';
import { endpointsReached, replica, send, sidecar, startApp, tearDown, url, type App } from '../proxy/helpers.js';
import { metricValue } from './prometheus.js';

const dir = tempDir('metrics');
const sidecars: Sidecar[] = [];
const apps: App[] = [];
let server: ServerProcess;
let caller: Sidecar;
let callee: Sidecar;

before(async () => {
  server = await startServer(dir.path);
  const app = await startApp('one', (req, res) => {
    req.resume();
    res.statusCode = req.url === '/fail' ? 500 : 200;
    res.end(req.url === '/fail' ? 'failed on purpose' : 'ok');
  });
  apps.push(app);
  callee = await replica(server.url, 'orders', app, { telemetry: { report: '200ms' } });
  sidecars.push(callee);
  caller = await sidecar({ service: 'web', controlPlane: server.url, upstreams: ['orders'], telemetry: { report: '200ms' } });
  sidecars.push(caller);
  await endpointsReached(caller, 'orders', 1);
});
after(() => tearDown(dir, sidecars, apps));

it('counts 900 successes and 100 failures exactly, on both sidecars and in trellis stat', async () => {
  const pool = new Pool(url(caller.outbound), { connections: 8 });
  const paths = Array.from({ length: 1000 }, (_, i) => (i % 10 === 9 ? '/fail' : '/'));
  let next = 0;
  const statuses = new Map<number, number>();
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < paths.length) {
      const path = paths[next] as string;
      next += 1;
      const answer = await send(url(caller.outbound, path), { headers: { host: 'orders' }, dispatcher: pool });
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    }
  }));
  await pool.close();
  assert.deepEqual(Object.fromEntries(statuses), { 200: 900, 500: 100 });

  const outbound = await (await fetch(`http://127.0.0.1:${caller.admin.port}/metrics`)).text();
  const out = { direction: 'outbound', src_service: 'web', dst_service: 'orders' };
  assert.equal(metricValue(outbound, 'request_total', out), 1000);
  assert.equal(metricValue(outbound, 'response_total', { ...out, status_code: '200', classification: 'success' }), 900);
  assert.equal(metricValue(outbound, 'response_total', { ...out, status_code: '500', classification: 'failure' }), 100);
  assert.equal(metricValue(outbound, 'response_latency_seconds_count', out), 1000);
  assert.equal(metricValue(outbound, 'response_latency_seconds_bucket', { ...out, le: '+Inf' }), 1000);
  // 500 is not a retryable status: no retries were made.
  assert.equal(metricValue(outbound, 'trellis_retries_total', { dst_service: 'orders' }) ?? 0, 0);

  const inbound = await (await fetch(`http://127.0.0.1:${callee.admin.port}/metrics`)).text();
  const inb = { direction: 'inbound', src_service: 'web', dst_service: 'orders' };
  assert.equal(metricValue(inbound, 'request_total', inb), 1000);
  assert.equal(metricValue(inbound, 'response_total', { ...inb, status_code: '200', classification: 'success' }), 900);
  assert.equal(metricValue(inbound, 'response_total', { ...inb, status_code: '500', classification: 'failure' }), 100);
  assert.equal(metricValue(inbound, 'response_latency_seconds_count', inb), 1000);

  const stat = await waitFor('trellis stat to show the 1000 requests', async () => {
    const result = await runCli(['stat', '--json', '--window', '15m', '--control-plane', server.url]);
    assert.equal(result.code, 0, result.stderr);
    const parsed = JSON.parse(result.stdout) as { services: ServiceStats[] };
    const orders = parsed.services.find((s) => s.service === 'orders');
    return orders !== undefined && orders.requests === 1000 ? orders : undefined;
  }, { timeoutMs: 20_000, everyMs: 200 });
  assert.equal(stat.success, 900);
  assert.equal(stat.failure, 100);
  assert.equal(stat.successRate, 0.9);
  assert.equal(stat.latencyCount, 1000);
  assert.deepEqual(stat.statuses, { 200: 900, 500: 100 });
  assert.deepEqual(stat.total, { requests: 1000, success: 900, failure: 100, latencyCount: 1000 });
  assert.equal(stat.meshed, 1);
  assert.ok(stat.latencyMs.p50 !== null && stat.latencyMs.p99 !== null && stat.latencyMs.p50 <= stat.latencyMs.p99);

  const table = await runCli(['stat', 'orders', '--window', '15m', '--control-plane', server.url]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^SERVICE\s+MESHED\s+SUCCESS\s+RPS/m);
  assert.match(table.stdout, /^orders\s+1\s+90\.00%/m);

  const edges = JSON.parse((await runCli(['edges', '--json', '--window', '15m', '--control-plane', server.url])).stdout) as { edges: Array<{ src: string; dst: string; requests: number; successRate: number }> };
  const edge = edges.edges.find((e) => e.src === 'web' && e.dst === 'orders');
  assert.ok(edge !== undefined, JSON.stringify(edges));
  assert.equal(edge.requests, 1000);
  assert.equal(edge.successRate, 0.9);
});

it('trellis top prints a frame with services and edges; trellis dashboard prints the URL it serves', async () => {
  const top = await runCli(['top', '--once', '--window', '15m', '--control-plane', server.url]);
  assert.equal(top.code, 0, top.stderr);
  assert.match(top.stdout, /^trellis top — http:\/\/127\.0\.0\.1:\d+ — last 15m/m);
  assert.match(top.stdout, /^orders\s+1\s+90\.00%/m);
  assert.match(top.stdout, /^SRC\s+DST\s+SUCCESS/m);
  assert.match(top.stdout, /^web\s+orders\s+90\.00%/m);
  const frame = JSON.parse((await runCli(['top', '--once', '--json', '--control-plane', server.url])).stdout) as { services: unknown[]; edges: unknown[] };
  assert.ok(frame.services.length >= 2 && frame.edges.length >= 1);

  const dashboard = await runCli(['dashboard', '--control-plane', server.url]);
  assert.equal(dashboard.code, 0, dashboard.stderr);
  assert.match(dashboard.stdout.trim(), new RegExp(`^${server.url}/dashboard/#token=trellis-read\\.[0-9a-f]{16}\\.[A-Za-z0-9_-]{43}$`));
  const page = await fetch(dashboard.stdout.trim().split('#')[0] ?? '');
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<svg id="graph"/);
  assert.equal((await fetch(`${server.url}/dashboard/..%2Fpackage.json`)).status, 404);
});

it('refuses a malformed report, naming the field, and keeps serving', async () => {
  const report = await (await fetch(`http://127.0.0.1:${callee.admin.port}/status`)).json();
  assert.ok(report !== undefined);
  const bad = await fetch(`${server.url}/v1/telemetry/orders/orders-one`, {
    method: 'PUT', headers: { 'content-type': 'application/json', ...adminHeaders(server.url) }, body: JSON.stringify({ at: 'yesterday' }),
  });
  assert.equal(bad.status, 400);
  const body = await bad.json() as { error: { code: string; field?: string } };
  assert.equal(body.error.code, 'TRELLIS_ERR_VALIDATION');
  assert.equal(body.error.field, 'at');
  const badName = await fetch(`${server.url}/v1/telemetry/Not_A_Service/x`, { method: 'PUT', headers: { 'content-type': 'application/json', ...adminHeaders(server.url) }, body: '{}' });
  assert.equal(badName.status, 400);
  assert.equal((await badName.json() as { error: { field?: string } }).error.field, 'service');
  assert.equal((await fetch(`${server.url}/v1/stat`, { headers: adminHeaders(server.url) })).status, 200);
});

it('serves the control plane\'s own metrics: reports received, sidecars reporting, instances', async () => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  assert.ok((metricValue(text, 'trellis_api_requests_total', { route: '/v1/telemetry/:service/:id', method: 'PUT', status_code: '200' }) ?? 0) > 0, text);
  assert.equal(metricValue(text, 'trellis_sidecars_reporting', {}), 2);
  assert.equal(metricValue(text, 'trellis_instances', { service: 'orders', status: 'passing' }), 1);
  assert.ok((metricValue(text, 'trellis_api_request_duration_seconds_count', { route: '/v1/services/:service/instances/:id', method: 'PUT' }) ?? 0) >= 1, 'the registration');
});

it('serves /status and /ready on the admin listener, and rejects a bad window with a clear error', async () => {
  const status = await (await fetch(`http://127.0.0.1:${callee.admin.port}/status`)).json() as { service: string; registration: string };
  assert.equal(status.service, 'orders');
  assert.equal(status.registration, 'registered');
  assert.equal((await fetch(`http://127.0.0.1:${callee.admin.port}/ready`)).status, 200);
  const missing = await fetch(`http://127.0.0.1:${callee.admin.port}/nope`);
  assert.equal(missing.status, 404);
  assert.match(await missing.text(), /try \/metrics/);

  const bad = await runCli(['stat', '--window', '2h', '--control-plane', server.url]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /window must be a duration between 1s and 15m.*TRELLIS_ERR_VALIDATION field=window/);
});
