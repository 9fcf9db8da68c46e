/**
 * The dashboard's sparklines and live tap in a real browser (Debian's chromium, driven by
 * playwright-core, headless), on known traffic: a client sends 12 successful requests to
 * `orders` (route get-order), then nothing for a few steps, then 6 that fail (500, no route).
 * With one-second steps (`?step=1s&series=1m`), the service's sparklines show exactly those
 * requests, in that order — successes, idle steps, failures — with success rate 1 then 0 and a
 * p99 wherever there were requests; the route's sparklines hold the route's own. Then a tap
 * started on the service page shows each request the client sent, once, with its status, and
 * none of the secrets the client put in its query, authorization header and body.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, send, sidecar, startApp, tearDown, url, type App } from '../proxy/helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = resolve(here, '../../test-artifacts');
const dir = tempDir('dashboard-sparklines');
const sidecars: Sidecar[] = [];
const apps: App[] = [];
let server: ServerProcess;
let caller: Sidecar;
let browser: Browser | undefined;
let page: Page;
const pageErrors: string[] = [];

const SECRETS = ['SECRET-QUERY-5e1f', 'SECRET-AUTH-a0c4', 'SECRET-BODY-93bd'];

before(async () => {
  server = await startServer(dir.path, ['--dns', 'off']);
  const app = await startApp('orders', (req, res) => {
    req.resume();
    res.writeHead(req.url?.startsWith('/fail') === true ? 500 : 200, { 'content-type': 'text/plain' });
    res.end('ok');
  });
  apps.push(app);
  sidecars.push(await replica(server.url, 'orders', app, { routes: [{ name: 'get-order', method: 'GET', path: '/orders/' }] }));
  caller = await sidecar({ service: 'web', id: 'web-1', controlPlane: server.url, upstreams: ['orders'] });
  sidecars.push(caller);
  await endpointsReached(caller, 'orders', 1);

  const printed = await runCli(['dashboard', '--control-plane', server.url]);
  assert.equal(printed.code, 0, printed.stderr);
  // One-second steps over one minute, so that a test sees several steps.
  const [base, fragment] = printed.stdout.trim().split('#');
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${base}?step=1s&series=1m#${fragment}`);
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: 15_000 });
  await page.locator('#spark-span', { hasText: 'the last 1 min, a point per 1 s' }).waitFor({ timeout: 10_000 });
});

after(async () => {
  await browser?.close();
  await tearDown(dir, sidecars, apps);
});

interface Spark { requests: number[]; rps: Array<number | null>; success: Array<number | null>; p99: Array<number | null> }

/** The sparklines of a table row (the service table's, or a route's on the service page), as the page holds them. */
async function sparkOf(selector: string): Promise<Spark | undefined> {
  return page.evaluate((sel) => {
    const row = document.querySelector(sel);
    if (row === null) return undefined;
    const values = (kind: string): Array<number | null> | undefined => {
      const svg = row.querySelector<SVGElement>(`svg.spark[data-kind="${kind}"]`);
      return svg?.dataset['values']?.split(',').map((v) => (v === '' ? null : Number(v)));
    };
    const requests = row.querySelector<SVGElement>('svg.spark[data-kind="rps"]')?.dataset['requests']?.split(',').map(Number);
    const rps = values('rps');
    const success = values('success');
    const p99 = values('p99');
    return requests === undefined || rps === undefined || success === undefined || p99 === undefined ? undefined : { requests, rps, success, p99 };
  }, selector);
}

/** Waits until `test` holds for the row's sparklines (deadline: 30 s); the failure names what they held. */
async function sparkUntil(selector: string, what: string, test: (s: Spark) => boolean): Promise<Spark> {
  let last: Spark | undefined;
  return waitFor(what, async () => {
    last = await sparkOf(selector);
    return last !== undefined && test(last) ? last : undefined;
  }, { timeoutMs: 30_000, everyMs: 200 }).catch((err: Error) => {
    throw new Error(`${err.message}; the sparklines hold ${JSON.stringify(last)}`);
  });
}

const sum = (list: readonly number[]): number => list.reduce((a, b) => a + b, 0);

it('draws sparklines that follow the traffic sent: successes, idle steps, failures', async () => {
  const row = '#service-table tr[data-service="orders"]';
  for (let i = 0; i < 12; i++) assert.equal((await send(url(caller.outbound, `/orders/${i}`), { headers: { host: 'orders' } })).status, 200);
  await sparkUntil(row, 'the 12 successes in the sparkline', (s) => sum(s.requests) === 12);
  // Idle: wait for two steps without requests after the successes.
  await sparkUntil(row, 'two idle steps after the successes', (s) => s.requests.length >= 2 && s.requests.slice(-2).every((n) => n === 0));
  for (let i = 0; i < 6; i++) assert.equal((await send(url(caller.outbound, `/fail/${i}`), { headers: { host: 'orders' } })).status, 500);
  const spark = await sparkUntil(row, 'all 18 requests in the sparkline', (s) => sum(s.requests) === 18);

  const busy = spark.requests.flatMap((n, i) => (n > 0 ? [i] : []));
  const firstFailure = busy.find((i) => spark.success[i] === 0);
  assert.ok(firstFailure !== undefined, `a step of failures: ${JSON.stringify(spark)}`);
  const before = busy.filter((i) => i < firstFailure);
  const afterwards = busy.filter((i) => i >= firstFailure);
  assert.equal(sum(before.map((i) => spark.requests[i] ?? 0)), 12, `the 12 successes come first: ${JSON.stringify(spark)}`);
  assert.equal(sum(afterwards.map((i) => spark.requests[i] ?? 0)), 6, `then the 6 failures: ${JSON.stringify(spark)}`);
  for (const i of before) assert.equal(spark.success[i], 1, `step ${i}: successes only`);
  for (const i of afterwards) assert.equal(spark.success[i], 0, `step ${i}: failures only`);
  assert.ok(spark.requests.slice((before.at(-1) ?? 0) + 1, firstFailure).some((n) => n === 0), `idle steps between the two: ${JSON.stringify(spark.requests)}`);
  for (const [i, n] of spark.requests.entries()) {
    assert.equal(spark.p99[i] !== null, n > 0, `step ${i}: a p99 exactly where there were requests (${n})`);
    assert.equal((spark.rps[i] ?? 0) > 0, n > 0, `step ${i}: a rate exactly where there were requests (${n})`);
  }
  // The polyline is drawn (points in the SVG), and the row's figure beside it.
  const drawn = await page.locator(`${row} svg.spark[data-kind="rps"] polyline, ${row} svg.spark[data-kind="rps"] circle`).count();
  assert.ok(drawn >= 1, 'the rps sparkline is drawn');

  // The service page: per route, the route's own requests.
  await page.locator(`${row}`).click();
  const route = await sparkUntil('#detail table.routes tr[data-route="get-order"]', 'the get-order route\'s sparkline', (s) => sum(s.requests) === 12);
  assert.ok(route.success.every((v) => v === null || v === 1), `get-order: successes only: ${JSON.stringify(route)}`);
  await sparkUntil('#detail table.routes tr[data-route="[default]"]', 'the unrouted failures\' sparkline', (s) => sum(s.requests) === 6 && s.success.every((v) => v === null || v === 0));
  assert.equal(await page.locator('#detail p.sparks svg.spark').count(), 3, 'the service page draws its three sparklines');
});

it('taps the service on its page: each request sent, once, with its status, and no secret', async () => {
  await page.locator('#tap button.start').click();
  await page.locator('#tap .tap-status[data-state="armed"]').waitFor({ timeout: 20_000 });
  const sent = [
    { id: 'dash-tap-1', path: '/orders/41', status: 200 },
    { id: 'dash-tap-2', path: '/orders/42', status: 200 },
    { id: 'dash-tap-3', path: '/fail/43', status: 500 },
  ];
  for (const r of sent) {
    const answer = await send(url(caller.outbound, `${r.path}?token=${SECRETS[0]}`), {
      method: 'POST', body: `card=${SECRETS[2]}`, headers: { host: 'orders', authorization: `Bearer ${SECRETS[1]}`, 'x-request-id': r.id },
    });
    assert.equal(answer.status, r.status);
  }
  for (const r of sent) {
    const row = page.locator(`#tap tbody tr[data-request-id="${r.id}"]`);
    await row.first().waitFor({ timeout: 20_000 });
    assert.equal(await row.count(), 1, `${r.id} shown once`);
    assert.equal(await row.getAttribute('data-status'), String(r.status));
    assert.equal(await row.getAttribute('data-path'), r.path, 'the path without its query');
    assert.match(await row.textContent() ?? '', new RegExp(`POST${r.path.replace(/\//g, '\\/')}${r.status}`));
  }
  const shown = await page.locator('#tap').innerHTML();
  for (const secret of SECRETS) assert.ok(!shown.includes(secret), `the tap shows no ${secret}`);
  assert.equal(await page.locator('#tap tbody tr').count(), 3, 'exactly the requests sent');
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'dashboard-tap.png'), fullPage: true });
  await page.locator('#tap button.stop').click();
  await page.locator('#tap .tap-status[data-state="stopped"]').waitFor({ timeout: 5_000 });
  assert.deepEqual(pageErrors, []);
});
