/**
 * The control plane's side of telemetry. A sidecar's report (src/agent/reporter.ts)
 * is validated and written to the store under `/telemetry/<service>/<id>` on a lease of
 * three report intervals, so that it disappears when the sidecar stops reporting; every
 * control-plane replica follows `/telemetry/` with a watch and keeps a short history per
 * sidecar, from which stat, edges, top and the dashboard compute rates and percentiles
 * (./aggregate.ts). A report that says the app fails its local check marks the instance's
 * TTL check critical at once, instead of waiting for the heartbeat lease to run out.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import { TTL_CHECK_NAME } from '../registry/record.js';
import type { Registry } from '../registry/registry.js';
import { instanceIdSchema, serviceNameSchema } from '../registry/schema.js';
import type { KvStore, LeaseId } from '../store/types.js';
import { follow, type Follower } from '../util/follow.js';
import { parseOrThrow } from '../util/validation.js';
import { formatDuration } from '../util/duration.js';
import { edgeStats, routeStats, serviceStats, type CheckResult, type EdgeStats, type RouteStats, type ServiceStats } from './aggregate.js';
import { SeriesCache, type TrafficSeries } from './series.js';
import { telemetryReportSchema, type StoredReport } from './snapshot.js';

export const TELEMETRY_PREFIX = '/telemetry/';
/** The longest window stat and edges accept. */
export const MAX_WINDOW_MS = 15 * 60_000;
/** Sidecar and control-plane clocks further apart than this fail `trellis check`. */
export const MAX_CLOCK_SKEW_MS = 5_000;

const keyOf = (service: string, id: string): string => `${TELEMETRY_PREFIX}${service}/${id}`;

function freshWithin(stored: StoredReport): number {
  return stored.report.intervalMs * 3 + 1_000;
}

export class TelemetryCollector {
  readonly #registry: Registry;
  /** Where reports are kept: the registry's store, or one of their own (see start). */
  readonly #store: KvStore;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #history = new Map<string, StoredReport[]>();
  readonly #leases = new Map<string, LeaseId>();
  readonly #listeners = new Set<() => void>();
  readonly #tapListeners = new Set<(service: string, id: string, events: StoredReport['report']['tap']) => void>();
  readonly #checkListeners = new Set<(results: readonly CheckResult[]) => void>();
  readonly #series = new SeriesCache();
  #follower: Follower | undefined;

  private constructor(registry: Registry, store: KvStore, logger: Logger, now: () => number) {
    this.#registry = registry;
    this.#store = store;
    this.#logger = logger;
    this.#now = now;
  }

  /**
   * `store`: where reports are kept (default: the registry's). An embedded control plane gives
   * them an in-memory store of their own, so that reports (one a second per sidecar) never use
   * up the registry's watch history or disk; on etcd every replica must see them, so they stay
   * in etcd, whose own compaction bounds their history.
   */
  static async start(registry: Registry, logger: Logger, now: () => number = Date.now, store: KvStore = registry.store): Promise<TelemetryCollector> {
    const collector = new TelemetryCollector(registry, store, logger, now);
    collector.#follower = await follow('telemetry', logger, async (fail) => {
      const { kvs, revision } = await store.range(TELEMETRY_PREFIX);
      const present = new Set<string>();
      for (const kv of kvs) {
        present.add(kv.key);
        collector.#add(kv.key, kv.value);
      }
      for (const key of collector.#history.keys()) if (!present.has(key)) collector.#history.delete(key);
      return store.watch(TELEMETRY_PREFIX, { afterRevision: revision }, {
        onEvent: (event) => {
          if (event.type === 'put' && event.value !== undefined) collector.#add(event.key, event.value);
          else if (event.type === 'delete') collector.#history.delete(event.key);
          collector.#changed();
        },
        onError: fail,
      });
    });
    return collector;
  }

  /** Validate and store a sidecar's report. @throws TrellisError VALIDATION naming the field. */
  async accept(service: string, id: string, body: unknown): Promise<void> {
    parseOrThrow(serviceNameSchema, service, 'service');
    parseOrThrow(instanceIdSchema, id, 'id');
    const report = parseOrThrow(telemetryReportSchema, body);
    const key = keyOf(service, id);
    const stored: StoredReport = { service, id, receivedAt: this.#now(), report };
    const store = this.#store;
    let lease = this.#leases.get(key);
    if (lease !== undefined) {
      try {
        await store.keepAlive(lease);
      } catch (err) {
        if (!(err instanceof TrellisError && err.code === ErrorCodes.LEASE_NOT_FOUND)) throw err;
        lease = undefined;
      }
    }
    if (lease === undefined) {
      lease = (await store.grantLease(freshWithin(stored))).id;
      this.#leases.set(key, lease);
    }
    await store.put(key, JSON.stringify(stored), { lease });
    if (report.app?.status === 'critical') {
      await this.#registry.setCheckStatus(service, id, TTL_CHECK_NAME, 'critical', `its sidecar reports the app failing its local check: ${report.app.output}`);
    }
  }

  /** Called (synchronously) after every telemetry change; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Called with the results of every check run (the control plane's metrics). */
  onChecks(listener: (results: readonly CheckResult[]) => void): void {
    this.#checkListeners.add(listener);
  }

  /** The latest report of every sidecar that still reports. */
  latest(): StoredReport[] {
    const out: StoredReport[] = [];
    for (const history of this.#history.values()) {
      const last = history[history.length - 1];
      if (last !== undefined) out.push(last);
    }
    return out.sort((a, b) => a.service.localeCompare(b.service) || a.id.localeCompare(b.id));
  }

  stat(windowMs: number, services: readonly string[]): ServiceStats[] {
    const now = this.#now();
    return serviceStats(this.#history, services, now - windowMs, now);
  }

  /** Per route of each service with inbound traffic in the window (absent: none). */
  routes(windowMs: number): Map<string, RouteStats[]> {
    return routeStats(this.#history, this.#now() - windowMs);
  }

  /** Per service and route, golden metrics per step over the last `spanMs` (the dashboard's sparklines: ./series.ts). */
  series(spanMs: number, stepMs: number): TrafficSeries {
    return this.#series.get(this.#history, this.#now(), spanMs, stepMs);
  }

  edges(windowMs: number): EdgeStats[] {
    return edgeStats(this.#history, this.#now() - windowMs);
  }

  /** The checks only the control plane can make: the store takes writes, every sidecar reports, is in sync, and has the right time. */
  async checks(): Promise<CheckResult[]> {
    const results: CheckResult[] = [await this.#storeWritable()];
    const now = this.#now();
    const { instances } = await this.#registry.listAll();
    const latest = new Map(this.latest().map((s) => [`${s.service}/${s.id}`, s]));
    // Instances a sidecar registered carry its metadata; others (trellis register) have no sidecar to hear from.
    const withSidecar = instances.filter((i) => i.metadata['trellis.app-port'] !== undefined);
    const silent = withSidecar.filter((i) => {
      const report = latest.get(`${i.service}/${i.id}`);
      return report === undefined || now - report.receivedAt > freshWithin(report);
    });
    results.push(silent.length === 0
      ? { name: 'sidecars connected', ok: true, message: `${latest.size} sidecar(s) reporting; every registered sidecar instance among them` }
      : { name: 'sidecars connected', ok: false, message: `no report from the sidecar of ${silent.map((i) => `${i.service}/${i.id}`).join(', ')}: is it running, and can it reach this control plane?` });
    const behind = [...latest.values()].filter((s) => s.report.controlPlane !== 'connected' || Object.values(s.report.upstreams).some((u) => u.state !== 'connected'));
    results.push(behind.length === 0
      ? { name: 'sidecars in sync', ok: true, message: 'every sidecar follows the registry (endpoint tables current)' }
      : { name: 'sidecars in sync', ok: false, message: `not following the registry: ${behind.map((s) => `${s.service}/${s.id} (${s.report.controlPlane})`).join(', ')} — they route with their last known tables; check their logs` });
    const skews = [...latest.values()].map((s) => ({ s, skew: Math.abs(s.report.at - s.receivedAt) }));
    const worst = skews.reduce((max, x) => Math.max(max, x.skew), 0);
    const skewed = skews.filter((x) => x.skew > MAX_CLOCK_SKEW_MS);
    results.push(skewed.length === 0
      ? { name: 'clock skew', ok: true, message: `sidecars within ${Math.ceil(worst)} ms of the control plane` }
      : { name: 'clock skew', ok: false, message: `clocks more than ${MAX_CLOCK_SKEW_MS / 1000} s off: ${skewed.map((x) => `${x.s.service}/${x.s.id} by ${Math.round(x.skew / 1000)} s`).join(', ')} — sync them with NTP` });
    results.push(certificatesCheck([...latest.values()], now));
    for (const listener of this.#checkListeners) listener(results);
    return results;
  }

  close(): void {
    this.#follower?.close();
    this.#listeners.clear();
    this.#checkListeners.clear();
  }

  async #storeWritable(): Promise<CheckResult> {
    const store = this.#registry.store;
    const key = `/check/${randomBytes(6).toString('hex')}`;
    const started = this.#now();
    try {
      await store.put(key, String(started));
      await store.delete(key);
      return { name: 'store writable', ok: true, message: `${store.backend} store took a write and a delete in ${this.#now() - started} ms` };
    } catch (err) {
      return { name: 'store writable', ok: false, message: `the ${store.backend} store refused a write: ${messageOf(err)} — check the data directory (disk full? permissions?) or the etcd cluster` };
    }
  }

  #add(key: string, value: string): void {
    let stored: StoredReport;
    try {
      stored = JSON.parse(value) as StoredReport;
    } catch (err) {
      this.#logger.warn({ key, err: messageOf(err) }, 'unreadable telemetry record ignored');
      return;
    }
    const tap = stored.report.tap;
    if (tap !== undefined && tap.length > 0) {
      for (const listener of this.#tapListeners) {
        try { listener(stored.service, stored.id, tap); } catch (err) { this.#logger.warn({ err: messageOf(err) }, 'tap listener failed'); }
      }
      // Delivered: the history (15 minutes of reports) keeps no request summaries.
      stored = { ...stored, report: { ...stored.report, tap: [] } };
    }
    let history = this.#history.get(key);
    if (history === undefined) this.#history.set(key, (history = []));
    history.push(stored);
    // Keep the window's worth, plus the one report before it (the baseline of the longest window).
    const cutoff = stored.receivedAt - MAX_WINDOW_MS;
    let drop = 0;
    while (drop + 1 < history.length && (history[drop + 1]?.receivedAt ?? Infinity) <= cutoff) drop += 1;
    if (drop > 0) history.splice(0, drop);
  }

  /** Called with the tap events of each report as it arrives (on every replica: through the watch); returns the unsubscribe function. */
  onTap(listener: (service: string, id: string, events: StoredReport['report']['tap']) => void): () => void {
    this.#tapListeners.add(listener);
    return () => this.#tapListeners.delete(listener);
  }

  #changed(): void {
    for (const listener of this.#listeners) {
      try { listener(); } catch (err) { this.#logger.warn({ err: messageOf(err) }, 'telemetry listener failed'); }
    }
  }
}

/** Sidecars' workload certificates: none expired (a sidecar renews its own at 70% of its life; an expired one means renewal is failing). */
function certificatesCheck(reports: readonly StoredReport[], now: number): CheckResult {
  const held = reports.flatMap((s) => (s.report.certificate === null ? [] : [{ s, left: Date.parse(s.report.certificate.notAfter) - now }]));
  if (held.length === 0) return { name: 'certificates', ok: true, message: 'no sidecar reports a workload certificate (mTLS off everywhere)' };
  const expired = held.filter((h) => h.left <= 0);
  if (expired.length > 0) {
    return { name: 'certificates', ok: false, message: `expired workload certificate at ${expired.map((h) => `${h.s.service}/${h.s.id}`).join(', ')}: its renewal is failing — check that sidecar's log and that it can reach the control plane` };
  }
  const soonest = held.reduce((min, h) => (h.left < min.left ? h : min));
  return { name: 'certificates', ok: true, message: `${held.length} sidecar certificate(s) valid; the soonest (${soonest.s.service}/${soonest.s.id}) expires in ${formatDuration(Math.round(soonest.left / 1_000) * 1_000)} and renews itself before` };
}
