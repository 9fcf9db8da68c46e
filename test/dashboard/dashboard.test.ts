/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core, headless)
 * on a running `trellis up` mesh: every service is drawn with an edge from the caller to
 * my-service, figures arrive live, and a replica whose app is killed — or which is killed whole,
 * app and sidecar, with kill -9 — turns red within 2 s without a reload. Without a token the
 * page says it needs one; `trellis dashboard` prints the URL (a read-only token in its fragment)
 * that lets it in. A screenshot is kept in dist/test-artifacts/ (copied to docs/).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { runCli, tempDir } from '../helpers/processes.js';
import { killSpawned, meshSummary, spawnCli } from '../mesh/spawn.js';

const here = dirname(fileURLToPath(import.meta.url));
const hello = resolve(here, '../../examples/hello');
const artifacts = resolve(here, '../../test-artifacts');
const dir = tempDir('dashboard');
const pids: number[] = [];
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  killSpawned(pids);
  dir.remove();
});

it('shows every service and the caller → my-service edge live, and a killed replica turns red within 2 s', async () => {
  const file = join(dir.path, 'mesh.yaml');
  writeFileSync(file, `services:
  my-service:
    replicas: 3
    command: ["${process.execPath}", "${join(hello, 'server.js')}"]
    health: { http: /healthz, interval: 500ms }
    routes: [{ name: hello, method: GET, path: / }]
  caller:
    command: ["${process.execPath}", "${join(hello, 'caller.js')}"]
    env: { CALL_RATE: "20", REPORT_EVERY_MS: "0" }
    health: { http: /healthz }
    upstreams: [my-service]
`);
  const up = spawnCli(['up', file, '--json', '--listen', '127.0.0.1:0', '--dns', 'off']);
  const summary = await meshSummary(up);
  pids.push(...summary.replicas.flatMap((r) => [r.pid, r.appPid]));

  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  // Without a token: the page says it needs one, and the event stream is refused.
  await page.goto(`${summary.controlPlane}/dashboard/`);
  await page.locator('#needs-token:not([hidden])').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#connection').getAttribute('data-state'), 'needs-token');
  assert.equal(await page.locator('main').isHidden(), true, 'no empty mesh view behind the message');
  assert.match(await page.locator('#needs-token').textContent() ?? '', /needs a token[\s\S]*trellis dashboard/);
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'dashboard-needs-token.png') });
  const events = await fetch(`${summary.controlPlane}/v1/dashboard/events`);
  assert.equal(events.status, 401);
  assert.equal((await events.json() as { error: { code: string } }).error.code, 'TRELLIS_ERR_TOKEN_MISSING');

  // `trellis dashboard` prints a URL with a read-only token in its fragment; the page trades it for a cookie.
  const printed = await runCli(['dashboard', '--control-plane', summary.controlPlane]);
  assert.equal(printed.code, 0, printed.stderr);
  const url = printed.stdout.trim();
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/dashboard\/#token=trellis-read\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
  await page.goto(url);
  await page.waitForFunction(() => !location.hash.includes('token='), undefined, { timeout: 10_000 });
  const cookies = await page.context().cookies();
  assert.ok(cookies.some((c) => c.name === 'trellis_dashboard' && c.httpOnly && c.sameSite === 'Strict'), JSON.stringify(cookies.map((c) => ({ ...c, value: '…' }))));

  // Every service, each replica passing, and the edge with traffic on it.
  await page.locator('#graph [data-service="my-service"][data-health="passing"]').waitFor({ timeout: 30_000 });
  await page.locator('#graph [data-service="caller"]').waitFor({ timeout: 30_000 });
  for (const id of ['my-service-1', 'my-service-2', 'my-service-3']) {
    await page.locator(`#graph [data-instance="${id}"][data-health="passing"]`).waitFor({ timeout: 30_000 });
  }
  const edge = page.locator('#graph [data-edge="caller->my-service"]');
  await edge.waitFor({ timeout: 30_000 });
  // Figures arrive once the sidecars have reported traffic (the caller's first calls may race the replicas' start).
  await page.waitForFunction(() => /^\d+(\.\d)?% · /.test(document.querySelector('[data-edge="caller->my-service"] text')?.textContent ?? ''), undefined, { timeout: 30_000 });
  assert.equal(await page.locator('#connection').getAttribute('data-state'), 'live');
  assert.match(await edge.textContent() ?? '', /^\d+(\.\d)?% · \d+(\.\d)? rps · p99 [\d.]+ ms/);
  // The edge names the caller's mTLS identity (short on the edge, the SPIFFE ID on hover).
  const identity = edge.locator('text[data-identities]');
  await identity.waitFor({ timeout: 10_000 });
  assert.equal(await identity.getAttribute('data-identities'), 'spiffe://trellis.local/ns/default/svc/caller');
  assert.match(await identity.textContent() ?? '', /^mTLS · caller/);

  // The service page lists the instances with their health.
  await page.locator('#graph [data-service="my-service"]').click();
  await page.locator('#detail tr[data-instance="my-service-2"] .badge[data-health="passing"]').waitFor({ timeout: 5_000 });
  // …and the workload certificate each replica's sidecar holds (the demo mesh runs strict mTLS).
  const certificate = page.locator('#detail tr[data-instance="my-service-2"] td[data-certificate]');
  await certificate.waitFor({ timeout: 5_000 });
  assert.equal(await certificate.getAttribute('data-certificate'), 'spiffe://trellis.local/ns/default/svc/my-service');
  assert.match(await certificate.textContent() ?? '', /expires in \d+ (h|min)/);
  // …and its golden metrics per declared route: the mesh file declares `hello` (GET /), which the caller calls.
  const route = page.locator('#detail table.routes tr[data-route="hello"]');
  await route.waitFor({ timeout: 10_000 });
  assert.match(await route.textContent() ?? '', /^hello\d+(\.\d)?%\d+(\.\d)? rps/);
  // The service table's sparklines (15 minutes in steps of 10 s): a first complete step with traffic.
  await page.waitForFunction(() => document.querySelector<SVGElement>('#service-table tr[data-service="my-service"] svg.spark[data-kind="rps"]')
    ?.dataset['requests']?.split(',').some((n) => Number(n) > 0) === true, undefined, { timeout: 30_000 });
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });

  // Kill one replica's app: the dashboard shows it red within 2 s, without a reload.
  const victim = summary.replicas.find((r) => r.id === 'my-service-2');
  assert.ok(victim !== undefined);
  const killedAt = Date.now();
  process.kill(victim.appPid, 'SIGKILL');
  // One check in the page (the graph is redrawn every second): the dot is marked down and drawn in red.
  const health = await page.waitForFunction(() => {
    const dot = document.querySelector('#graph [data-instance="my-service-2"]');
    const state = dot?.getAttribute('data-health');
    return dot !== null && (state === 'critical' || state === 'gone') && getComputedStyle(dot).fill === 'rgb(220, 38, 38)' ? state : undefined;
  }, undefined, { timeout: 2_000, polling: 'raf' });
  const elapsed = Date.now() - killedAt;
  assert.ok(elapsed <= 2_000, `turned red after ${elapsed} ms`);
  assert.match(String(await health.jsonValue()), /^(critical|gone)$/);
  await page.locator('#graph [data-service="my-service"][data-health="degraded"]').waitFor({ timeout: 2_000 });
  await page.screenshot({ path: join(artifacts, 'dashboard-killed.png'), fullPage: true });

  // kill -9 of a whole replica (app and sidecar: nobody deregisters, no heartbeat stops
  // gracefully): the control plane sees the sidecar's presence stream drop, and the dot turns red
  // within 2 s — not after the 3 s heartbeat TTL.
  const whole = summary.replicas.find((r) => r.id === 'my-service-3');
  assert.ok(whole !== undefined);
  await page.locator('#graph [data-instance="my-service-3"][data-health="passing"]').waitFor({ timeout: 5_000 });
  const wholeKilledAt = Date.now();
  process.kill(whole.pid, 'SIGKILL');
  process.kill(whole.appPid, 'SIGKILL');
  await page.waitForFunction(() => {
    const dot = document.querySelector('#graph [data-instance="my-service-3"]');
    const state = dot?.getAttribute('data-health');
    return dot !== null && (state === 'critical' || state === 'gone') && getComputedStyle(dot).fill === 'rgb(220, 38, 38)';
  }, undefined, { timeout: 2_000, polling: 'raf' });
  const wholeElapsed = Date.now() - wholeKilledAt;
  assert.ok(wholeElapsed <= 2_000, `a killed replica turned red after ${wholeElapsed} ms`);
  // The surviving replica stays green throughout.
  assert.equal(await page.locator('#graph [data-instance="my-service-1"]').getAttribute('data-health'), 'passing');
  process.stdout.write(`# time to red: app killed ${elapsed} ms, whole replica killed ${wholeElapsed} ms\n`);
  // trellis up restarts the killed replica (restart: always, 1 s back-off): the service page shows
  // its restarts, how its last run ended and the back-off, without a reload.
  const restarts = page.locator('#detail tr[data-instance="my-service-2"] td[data-restarts="1"]');
  await restarts.waitFor({ timeout: 30_000 });
  assert.equal(await restarts.textContent(), '1 (always) · last exit code 137 (SIGKILL) · back-off 1s');
  assert.equal(await page.locator('#detail tr[data-instance="my-service-1"] td[data-restarts]').textContent(), '0 (always)');
  assert.deepEqual(pageErrors, []);

  up.child.kill('SIGINT');
  assert.equal(await up.exited, 0, up.output());
});
