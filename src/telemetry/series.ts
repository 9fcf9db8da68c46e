/**
 * Golden-metric time series for the dashboard's sparklines: per service (what its sidecars
 * served, inbound) and per declared route of each service, over the last `spanMs` in steps of
 * `stepMs`. A step's figures are, for each sidecar, its report at the step's end minus its
 * report at the step's start (the last received before each boundary; or minus zero when the
 * sidecar started within the step), so each point is the traffic of that step alone and the
 * first minute's points are as right as the later ones. Rates divide each sidecar's count by
 * the time between its two reports' clocks, then add up (as ./aggregate.ts does).
 *
 * Only complete steps are points (the boundaries are multiples of the step on the control
 * plane's clock): a point never changes once shown, and the series is worked out once a step
 * (see {@link SeriesCache}), not on every dashboard tick.
 */
import { DEFAULT_ROUTE } from './routes.js';
import { add, emptySum, quantile, rowDeltas, type Sum } from './aggregate.js';
import type { StoredReport } from './snapshot.js';

/**
 * A boundary is used once this long has passed it: a report accepted just before it reaches
 * the history through the store's watch a moment later, and a point once shown never changes.
 */
const SETTLE_MS = 500;

/** The end of the last complete, settled step. */
function lastBoundary(now: number, stepMs: number): number {
  return Math.floor((now - SETTLE_MS) / stepMs) * stepMs;
}

/** One metric per step, oldest first; null where it has no value (no requests). */
export interface GoldenSeries {
  /** Requests answered in the step. */
  readonly requests: readonly number[];
  readonly rps: readonly number[];
  readonly successRate: ReadonlyArray<number | null>;
  readonly p99Ms: ReadonlyArray<number | null>;
}

export interface TrafficSeries {
  /** Epoch ms of the first step's start; step i covers (start + i·step, start + (i+1)·step]. */
  readonly start: number;
  readonly stepMs: number;
  readonly points: number;
  /** Per service with inbound traffic in the span: its series, and one per route. */
  readonly services: Readonly<Record<string, { readonly total: GoldenSeries; readonly routes: Readonly<Record<string, GoldenSeries>> }>>;
}

/** The last report received at or before `at`, from index `from` on (histories are in order of receipt). */
function lastAtOrBefore(history: readonly StoredReport[], at: number, from: number): number {
  let i = from;
  while (i + 1 < history.length && (history[i + 1]?.receivedAt ?? Infinity) <= at) i += 1;
  return (history[i]?.receivedAt ?? Infinity) <= at ? i : -1;
}

function toSeries(sums: readonly (Sum | undefined)[]): GoldenSeries {
  return {
    requests: sums.map((s) => s?.requests ?? 0),
    rps: sums.map((s) => (s === undefined ? 0 : Math.round(s.rps * 1000) / 1000)),
    successRate: sums.map((s) => (s === undefined || s.requests === 0 ? null : s.success / s.requests)),
    p99Ms: sums.map((s) => (s === undefined ? null : quantile(0.99, s.buckets))),
  };
}

export function trafficSeries(sidecars: ReadonlyMap<string, readonly StoredReport[]>, now: number, spanMs: number, stepMs: number): TrafficSeries {
  const points = Math.max(1, Math.floor(spanMs / stepMs));
  const end = lastBoundary(now, stepMs);
  const start = end - points * stepMs;
  // service → step sums; service → route → step sums.
  const totals = new Map<string, Array<Sum | undefined>>();
  const routes = new Map<string, Map<string, Array<Sum | undefined>>>();
  const slot = <K>(map: Map<K, Array<Sum | undefined>>, key: K, step: number): Sum => {
    let list = map.get(key);
    if (list === undefined) map.set(key, (list = new Array<Sum | undefined>(points).fill(undefined)));
    return (list[step] ??= emptySum());
  };
  for (const history of sidecars.values()) {
    let at = lastAtOrBefore(history, start, 0);
    for (let step = 0; step < points; step += 1) {
      const stepStart = start + step * stepMs;
      const next = lastAtOrBefore(history, stepStart + stepMs, Math.max(0, at));
      const current = history[next];
      const previous = at < 0 ? undefined : history[at];
      at = next;
      if (current === undefined || current === previous) continue;
      let baseline: StoredReport | undefined = previous;
      if (previous === undefined || previous.report.startedAt !== current.report.startedAt) {
        // A new run: its counters started at zero within this step, else what they hold is not this step's.
        if (current.report.startedAt <= stepStart) continue;
        baseline = undefined;
      }
      const seconds = (current.report.at - (baseline === undefined ? current.report.startedAt : baseline.report.at)) / 1000;
      if (seconds <= 0) continue;
      for (const { row, delta } of rowDeltas(current, baseline)) {
        if (row.direction !== 'inbound') continue;
        add(slot(totals, row.dst, step), delta, seconds);
        let perRoute = routes.get(row.dst);
        if (perRoute === undefined) routes.set(row.dst, (perRoute = new Map()));
        add(slot(perRoute, row.route ?? DEFAULT_ROUTE, step), delta, seconds);
      }
    }
  }
  const services: Record<string, { total: GoldenSeries; routes: Record<string, GoldenSeries> }> = {};
  for (const [service, sums] of [...totals].sort(([a], [b]) => a.localeCompare(b))) {
    const byRoute = [...(routes.get(service) ?? new Map<string, Array<Sum | undefined>>())].sort(([a], [b]) => a.localeCompare(b));
    services[service] = { total: toSeries(sums), routes: Object.fromEntries(byRoute.map(([route, list]) => [route, toSeries(list)])) };
  }
  return { start, stepMs, points, services };
}

/** The series of the current step, worked out once per (span, step) and step boundary. */
export class SeriesCache {
  readonly #cached = new Map<string, TrafficSeries>();

  get(sidecars: ReadonlyMap<string, readonly StoredReport[]>, now: number, spanMs: number, stepMs: number): TrafficSeries {
    const key = `${spanMs}/${stepMs}`;
    const end = lastBoundary(now, stepMs);
    const cached = this.#cached.get(key);
    if (cached !== undefined && cached.start + cached.points * stepMs === end) return cached;
    const series = trafficSeries(sidecars, now, spanMs, stepMs);
    if (this.#cached.size > 16) this.#cached.clear();
    this.#cached.set(key, series);
    return series;
  }
}
