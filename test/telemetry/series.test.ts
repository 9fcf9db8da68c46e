/**
 * The dashboard's sparkline series from cumulative reports (src/telemetry/series.ts): each
 * complete step holds exactly its own requests, per service and per route; a sidecar's restart
 * (counters back to zero) neither loses nor invents requests; a control plane that begins with
 * a sidecar's old totals does not put them in one step; the last step is only shown once settled.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { trafficSeries } from '../../src/telemetry/series.js';
import { LATENCY_BUCKETS_MS, type StoredReport, type TrafficRow } from '../../src/telemetry/snapshot.js';

const STEP = 1_000;
const T0 = 1_800_000_000_000;

/** A cumulative inbound row of `orders` for `route`: `ok` successes (5 ms each) and `bad` failures. */
function row(route: string, ok: number, bad: number): TrafficRow {
  const n = ok + bad;
  // 5 ms: bucket index of bound 5 and above.
  const buckets = LATENCY_BUCKETS_MS.map((bound) => (bound >= 5 ? n : 0));
  return {
    direction: 'inbound', src: 'web', dst: 'orders', clientId: '', route, requests: n, success: ok, failure: bad,
    statuses: { 200: ok, 500: bad }, latency: { buckets: [...buckets, n], sum: n * 5, count: n },
  };
}

function stored(receivedAt: number, startedAt: number, traffic: TrafficRow[]): StoredReport {
  return {
    service: 'orders', id: 'orders-1', receivedAt,
    report: {
      at: receivedAt, startedAt, intervalMs: STEP, app: null, registration: 'registered', controlPlane: 'connected', upstreams: {},
      traffic, retries: {}, ejections: {}, circuitRejections: {}, tlsHandshakeFailures: 0, openConnections: 0, certificate: null, admin: null, tap: [],
    },
  };
}

it('puts each step\'s own requests in its point, per service and per route, through a restart', () => {
  // Reports every second, 100 ms into each step. Steps 0..9 start at T0.
  const started = T0 - 60_000;
  const history: StoredReport[] = [];
  // Cumulative counts at each report: before T0 the sidecar had served 1000 (not in any step).
  const perStep = [3, 0, 0, 5, 2, 0, 4, 0, 0, 1];
  let total = 1_000;
  history.push(stored(T0 - 900, started, [row('get', total, 0)]));
  let restartedAt = 0;
  perStep.forEach((n, step) => {
    const at = T0 + step * STEP + 100;
    if (step === 6) {
      // The sidecar restarted at the start of step 6: its counters begin again from zero.
      restartedAt = T0 + step * STEP + 10;
      total = 0;
    }
    total += n;
    const rows = [row('get', total, 0)];
    // Two failures on [default] first counted in step 4, unchanged in step 5; the restart forgets them.
    if (step === 4 || step === 5) rows.push(row('[default]', 0, 2));
    history.push(stored(at, step >= 6 ? restartedAt : started, rows));
  });
  const now = T0 + perStep.length * STEP + 700;
  const series = trafficSeries(new Map([['orders/orders-1', history]]), now, perStep.length * STEP, STEP);
  assert.equal(series.points, perStep.length);
  assert.equal(series.start, T0, 'the steps are aligned on the step');
  const orders = series.services['orders'];
  assert.ok(orders !== undefined, JSON.stringify(series));
  // Step 4: 2 successes on get and the 2 new failures on [default]; the restart step counts from zero.
  const expected = perStep.map((n, step) => n + (step === 4 ? 2 : 0));
  assert.deepEqual(orders.total.requests, expected, 'each step holds its own requests');
  assert.deepEqual(orders.routes['get']?.requests, perStep, 'the route get');
  assert.deepEqual(orders.routes['[default]']?.requests, perStep.map((_, step) => (step === 4 ? 2 : 0)), 'the route [default]');
  assert.equal(orders.total.successRate[4], 0.5, 'step 4: 2 of 4 succeeded');
  assert.equal(orders.total.successRate[3], 1);
  assert.equal(orders.total.successRate[1], null, 'no requests: no success rate');
  assert.equal(orders.total.p99Ms[1], null, 'no requests: no p99');
  const p99 = orders.total.p99Ms[3];
  assert.ok(p99 !== null && p99 !== undefined && p99 > 4 && p99 <= 5, `p99 within the 5 ms bucket: ${p99}`);
  assert.ok(Math.abs((orders.total.rps[3] ?? 0) - 5) < 0.01, `step 3: 5 requests in 1 s: ${orders.total.rps[3]}`);
});

it('shows a step only once it has settled, and nothing from before the first report', () => {
  const history = [stored(T0 + 100, T0 - 3_600_000, [row('get', 500, 0)]), stored(T0 + 1_100, T0 - 3_600_000, [row('get', 507, 0)])];
  const sidecars = new Map([['orders/orders-1', history]]);
  // 200 ms after the boundary T0 + 2 s the step (T0+1s, T0+2s] is not shown yet…
  const early = trafficSeries(sidecars, T0 + 2_200, 3 * STEP, STEP);
  assert.equal(early.start + early.points * STEP, T0 + STEP, 'the last step shown ends at T0 + 1 s');
  // …and the old totals of a sidecar that was running before the first report are in no step.
  assert.equal(early.services['orders'], undefined, `no point from the old totals: ${JSON.stringify(early.services)}`);
  const later = trafficSeries(sidecars, T0 + 2_600, 3 * STEP, STEP);
  assert.deepEqual(later.services['orders']?.total.requests, [0, 0, 7], 'then the step (T0+1s, T0+2s] holds its 7');
});
