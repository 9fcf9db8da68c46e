/**
 * Golden metrics from cumulative sidecar reports (the control plane's side of
 * `trellis stat`, `edges`, `top` and the dashboard). For each sidecar the window's delta is
 * its latest report minus the last report received before the window began — or minus
 * zero when the sidecar started within the window (its counters start at zero). Rates
 * divide by the window's length (as Prometheus' rate() does), so every sidecar's figures,
 * young or old, add up on one time base; latency percentiles
 * interpolate within the summed histogram buckets, as Prometheus' histogram_quantile does.
 */
import { LATENCY_BUCKETS_MS, type StoredReport, type TrafficRow } from './snapshot.js';
import { DEFAULT_ROUTE } from './routes.js';

export interface LatencyPercentiles {
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

export interface Golden {
  /** Requests answered in the window. */
  readonly requests: number;
  readonly success: number;
  readonly failure: number;
  /** success / requests; null without requests. */
  readonly successRate: number | null;
  readonly rps: number;
  readonly latencyMs: LatencyPercentiles;
  /** Observations in the latency histogram over the window (= requests). */
  readonly latencyCount: number;
}

export interface ServiceStats extends Golden {
  readonly service: string;
  /** Sidecars of this service that reported within their report interval × 3. */
  readonly meshed: number;
  /** Since each sidecar started: what its counters hold now. */
  readonly total: { readonly requests: number; readonly success: number; readonly failure: number; readonly latencyCount: number };
  /** Responses in the window by status code. */
  readonly statuses: Readonly<Record<string, number>>;
}

export interface EdgeStats extends Golden {
  readonly src: string;
  readonly dst: string;
  /** The callers' mTLS identities as the callee's sidecars saw them ([] without mTLS). */
  readonly identities: readonly string[];
}

export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  /** What was found; for a failure, what to do about it. */
  readonly message: string;
}

export interface CheckResults {
  readonly ok: boolean;
  readonly checks: readonly CheckResult[];
  /** The control plane's clock when it answered (epoch ms). */
  readonly time: number;
}

export interface Sum {
  requests: number;
  success: number;
  failure: number;
  rps: number;
  buckets: number[];
  latencyCount: number;
  statuses: Record<string, number>;
}

export function emptySum(): Sum {
  return { requests: 0, success: 0, failure: 0, rps: 0, buckets: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0), latencyCount: 0, statuses: {} };
}

const rowKey = (row: TrafficRow): string => `${row.direction}|${row.src}|${row.dst}|${row.clientId}|${row.route ?? ''}`;

/** Percentile q (0–1) of a cumulative histogram (bounds LATENCY_BUCKETS_MS, then +Inf). */
export function quantile(q: number, cumulative: readonly number[]): number | null {
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < cumulative.length; i += 1) {
    const upTo = cumulative[i] ?? 0;
    if (upTo < rank) continue;
    if (i >= LATENCY_BUCKETS_MS.length) return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1] ?? null;
    const lower = i === 0 ? 0 : LATENCY_BUCKETS_MS[i - 1] ?? 0;
    const upper = LATENCY_BUCKETS_MS[i] ?? lower;
    const below = i === 0 ? 0 : cumulative[i - 1] ?? 0;
    const inBucket = upTo - below;
    const value = inBucket <= 0 ? upper : lower + (upper - lower) * ((rank - below) / inBucket);
    return Math.round(value * 1000) / 1000;
  }
  return null;
}

function golden(sum: Sum): Golden {
  return {
    requests: sum.requests,
    success: sum.success,
    failure: sum.failure,
    successRate: sum.requests === 0 ? null : sum.success / sum.requests,
    rps: Math.round(sum.rps * 1000) / 1000,
    latencyMs: { p50: quantile(0.5, sum.buckets), p95: quantile(0.95, sum.buckets), p99: quantile(0.99, sum.buckets) },
    latencyCount: sum.latencyCount,
  };
}

/** One sidecar's traffic over the window: each row's delta and the seconds it covers. */
export interface WindowDelta {
  readonly rows: ReadonlyArray<{ readonly row: TrafficRow; readonly delta: TrafficRow }>;
  readonly seconds: number;
}

export function windowDelta(history: readonly StoredReport[], windowStart: number): WindowDelta | undefined {
  const latest = history[history.length - 1];
  if (latest === undefined) return undefined;
  let baseline: StoredReport | undefined;
  for (const stored of history) {
    if (stored.receivedAt <= windowStart && stored.report.startedAt === latest.report.startedAt) baseline = stored;
  }
  const fromMs = baseline === undefined ? Math.min(windowStart, latest.report.startedAt) : baseline.report.at;
  const seconds = Math.max(0.001, (latest.report.at - fromMs) / 1000);
  return { rows: rowDeltas(latest, baseline), seconds };
}

/** Each traffic row of `latest` with what it counted since `baseline` (a report of the same run), or since the sidecar started. */
export function rowDeltas(latest: StoredReport, baseline: StoredReport | undefined): WindowDelta['rows'] {
  const before = new Map<string, TrafficRow>(baseline === undefined ? [] : baseline.report.traffic.map((r) => [rowKey(r), r]));
  return latest.report.traffic.map((row) => {
    const old = before.get(rowKey(row));
    if (old === undefined) return { row, delta: row };
    const statuses: Record<string, number> = {};
    for (const [code, n] of Object.entries(row.statuses)) statuses[code] = n - (old.statuses[code] ?? 0);
    return {
      row,
      delta: {
        ...row,
        requests: row.requests - old.requests,
        success: row.success - old.success,
        failure: row.failure - old.failure,
        statuses,
        latency: {
          buckets: row.latency.buckets.map((n, i) => n - (old.latency.buckets[i] ?? 0)),
          sum: row.latency.sum - old.latency.sum,
          count: row.latency.count - old.latency.count,
        },
      },
    };
  });
}

export function add(sum: Sum, delta: TrafficRow, seconds: number): void {
  sum.requests += delta.success + delta.failure;
  sum.success += delta.success;
  sum.failure += delta.failure;
  sum.rps += (delta.success + delta.failure) / seconds;
  sum.latencyCount += delta.latency.count;
  delta.latency.buckets.forEach((n, i) => { sum.buckets[i] = (sum.buckets[i] ?? 0) + n; });
  for (const [code, n] of Object.entries(delta.statuses)) if (n > 0) sum.statuses[code] = (sum.statuses[code] ?? 0) + n;
}

/** Per service: what its sidecars served (inbound), over the window. `services` lists every known service, even idle ones. */
export function serviceStats(sidecars: ReadonlyMap<string, readonly StoredReport[]>, services: readonly string[], windowStart: number, now: number): ServiceStats[] {
  const sums = new Map<string, Sum>();
  const totals = new Map<string, { requests: number; success: number; failure: number; latencyCount: number }>();
  const meshed = new Map<string, number>();
  for (const history of sidecars.values()) {
    const latest = history[history.length - 1];
    if (latest === undefined) continue;
    if (now - latest.receivedAt <= latest.report.intervalMs * 3 + 1_000) meshed.set(latest.service, (meshed.get(latest.service) ?? 0) + 1);
    const window = windowDelta(history, windowStart);
    if (window === undefined) continue;
    for (const { row, delta } of window.rows) {
      if (row.direction !== 'inbound') continue;
      const sum = sums.get(row.dst) ?? emptySum();
      sums.set(row.dst, sum);
      add(sum, delta, window.seconds);
      const total = totals.get(row.dst) ?? { requests: 0, success: 0, failure: 0, latencyCount: 0 };
      total.requests += row.success + row.failure;
      total.success += row.success;
      total.failure += row.failure;
      total.latencyCount += row.latency.count;
      totals.set(row.dst, total);
    }
  }
  const names = [...new Set([...services, ...sums.keys(), ...meshed.keys()])].sort();
  return names.map((service) => {
    const sum = sums.get(service) ?? emptySum();
    return {
      service,
      meshed: meshed.get(service) ?? 0,
      ...golden(sum),
      statuses: sum.statuses,
      total: totals.get(service) ?? { requests: 0, success: 0, failure: 0, latencyCount: 0 },
    };
  });
}

export interface RouteStats extends Golden {
  /** A declared route's name, or [default] (src/telemetry/routes.ts). */
  readonly route: string;
}

/**
 * Per service, per route: what its sidecars served (inbound), over the window (as `linkerd viz
 * routes`), in one pass over the sidecars; services without inbound traffic are absent.
 */
export function routeStats(sidecars: ReadonlyMap<string, readonly StoredReport[]>, windowStart: number): Map<string, RouteStats[]> {
  const sums = new Map<string, Map<string, Sum>>();
  for (const history of sidecars.values()) {
    const window = windowDelta(history, windowStart);
    if (window === undefined) continue;
    for (const { row, delta } of window.rows) {
      if (row.direction !== 'inbound') continue;
      let routes = sums.get(row.dst);
      if (routes === undefined) sums.set(row.dst, (routes = new Map()));
      const route = row.route ?? DEFAULT_ROUTE;
      const sum = routes.get(route) ?? emptySum();
      routes.set(route, sum);
      add(sum, delta, window.seconds);
    }
  }
  return new Map([...sums].map(([service, routes]) => [
    service, [...routes.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([route, sum]) => ({ route, ...golden(sum) })),
  ]));
}

/** Who calls whom: the callers' outbound traffic per (caller, callee), with the identities the callees saw. */
export function edgeStats(sidecars: ReadonlyMap<string, readonly StoredReport[]>, windowStart: number): EdgeStats[] {
  const sums = new Map<string, { src: string; dst: string; sum: Sum; identities: Set<string> }>();
  const edge = (src: string, dst: string): { src: string; dst: string; sum: Sum; identities: Set<string> } => {
    const key = `${src}|${dst}`;
    let entry = sums.get(key);
    if (entry === undefined) sums.set(key, (entry = { src, dst, sum: emptySum(), identities: new Set() }));
    return entry;
  };
  for (const history of sidecars.values()) {
    const window = windowDelta(history, windowStart);
    if (window === undefined) continue;
    for (const { row, delta } of window.rows) {
      if (row.direction === 'outbound') add(edge(row.src, row.dst).sum, delta, window.seconds);
      else if (row.src !== '' && row.clientId !== '') edge(row.src, row.dst).identities.add(row.clientId);
    }
  }
  return [...sums.values()]
    .sort((a, b) => a.src.localeCompare(b.src) || a.dst.localeCompare(b.dst))
    .map(({ src, dst, sum, identities }) => ({ src, dst, identities: [...identities].sort(), ...golden(sum) }));
}
