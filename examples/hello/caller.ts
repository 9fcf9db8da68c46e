/**
 * A caller service: calls my-service through its sidecar at a steady rate and counts the
 * answers per replica (from the x-instance-id header) and every failure, with its reason.
 *
 * Environment (set by `trellis run` / `trellis up`):
 *   PORT                         where it serves its report
 *   TRELLIS_UPSTREAM_MY_SERVICE  the sidecar's local port for my-service (see docs/cli.md)
 *   CALL_SERVICE                 the service to call (default my-service)
 *   CALL_RATE                    requests per second (default 20)
 *   REPORT_EVERY_MS              how often to print a summary line (default 5000, 0 = never)
 *
 *   GET /stats    → JSON { sent, ok, failed, inFlight, byInstance: {id: n}, failures: [...] }
 *   GET /stats?sentAfter=T → the same, plus sentAfter: {id: n}, the answers to requests sent at or
 *                 after T (epoch ms) — of the last 2,000 answers — so a window can start exactly at an event
 *   GET /healthz  → 200 "ok"
 */
import { createServer } from 'node:http';

const env = process.env;
const service = env['CALL_SERVICE'] ?? 'my-service';
const variable = `TRELLIS_UPSTREAM_${service.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
const base = env[variable];
const rate = Number(env['CALL_RATE'] ?? 20);
const reportEveryMs = Number(env['REPORT_EVERY_MS'] ?? 5_000);
const port = Number(env['PORT'] ?? 8081);
const MAX_IN_FLIGHT = 100;
const KEEP_FAILURES = 20;
const KEEP_ANSWERS = 2_000;

if (base === undefined) {
  process.stderr.write(`caller: ${variable} is not set; run me with \`trellis run --upstream ${service} -- …\` or in a mesh file\n`);
  process.exit(2);
}

interface Failure { at: string; reason: string }
const stats = { sent: 0, ok: 0, failed: 0, inFlight: 0, byInstance: {} as Record<string, number>, failures: [] as Failure[] };
/** The last answers: when their request was sent, and who answered. */
const answers: Array<{ sentAt: number; instance: string }> = [];

function fail(reason: string): void {
  stats.failed += 1;
  stats.failures.push({ at: new Date().toISOString(), reason });
  if (stats.failures.length > KEEP_FAILURES) stats.failures.shift();
}

async function callOnce(): Promise<void> {
  stats.sent += 1;
  stats.inFlight += 1;
  const sentAt = Date.now();
  try {
    const response = await fetch(`${base}/`, { signal: AbortSignal.timeout(5_000) });
    await response.text();
    const instance = response.headers.get('x-instance-id') ?? 'unknown';
    if (response.ok) {
      stats.ok += 1;
      stats.byInstance[instance] = (stats.byInstance[instance] ?? 0) + 1;
      answers.push({ sentAt, instance });
      if (answers.length > KEEP_ANSWERS) answers.shift();
    } else {
      fail(`HTTP ${response.status} ${response.headers.get('trellis-error') ?? ''}`.trim());
    }
  } catch (err) {
    fail(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  } finally {
    stats.inFlight -= 1;
  }
}

setInterval(() => {
  if (stats.inFlight < MAX_IN_FLIGHT) void callOnce();
}, 1_000 / rate);

if (reportEveryMs > 0) {
  setInterval(() => {
    const spread = Object.entries(stats.byInstance).sort().map(([id, n]) => `${id}=${n}`).join(' ');
    process.stdout.write(`caller: ${stats.ok} ok, ${stats.failed} failed — ${spread}\n`);
  }, reportEveryMs).unref();
}

const server = createServer((req, res) => {
  if (req.url === '/healthz') { res.end('ok\n'); return; }
  const url = new URL(req.url ?? '/', 'http://caller');
  if (url.pathname === '/stats') {
    const since = Number(url.searchParams.get('sentAfter'));
    const sentAfter: Record<string, number> = {};
    if (Number.isFinite(since) && since > 0) {
      for (const a of answers) if (a.sentAt >= since) sentAfter[a.instance] = (sentAfter[a.instance] ?? 0) + 1;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(since > 0 ? { ...stats, sentAfter } : stats));
    return;
  }
  res.writeHead(404).end('try /stats\n');
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`caller calling ${service} at ${base}, ${rate}/s; report on http://127.0.0.1:${port}/stats\n`);
});
process.once('SIGTERM', () => process.exit(0));
