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

if (base === undefined) {
  process.stderr.write(`caller: ${variable} is not set; run me with \`trellis run --upstream ${service} -- …\` or in a mesh file\n`);
  process.exit(2);
}

interface Failure { at: string; reason: string }
const stats = { sent: 0, ok: 0, failed: 0, inFlight: 0, byInstance: {} as Record<string, number>, failures: [] as Failure[] };

function fail(reason: string): void {
  stats.failed += 1;
  stats.failures.push({ at: new Date().toISOString(), reason });
  if (stats.failures.length > KEEP_FAILURES) stats.failures.shift();
}

async function callOnce(): Promise<void> {
  stats.sent += 1;
  stats.inFlight += 1;
  try {
    const response = await fetch(`${base}/`, { signal: AbortSignal.timeout(5_000) });
    await response.text();
    const instance = response.headers.get('x-instance-id') ?? 'unknown';
    if (response.ok) {
      stats.ok += 1;
      stats.byInstance[instance] = (stats.byInstance[instance] ?? 0) + 1;
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
  if (req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
    return;
  }
  res.writeHead(404).end('try /stats\n');
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`caller calling ${service} at ${base}, ${rate}/s; report on http://127.0.0.1:${port}/stats\n`);
});
process.once('SIGTERM', () => process.exit(0));
