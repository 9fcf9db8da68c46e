/**
 * The sidecar's side of aggregation: every `intervalMs` it sends the control plane a
 * cumulative report (src/telemetry/snapshot.ts) — its traffic rows read from the metrics
 * registry, the layers' counters and its own state — and it sends one at once when its
 * app's health changes, so that the registry (and the dashboard) learn of a dead app in
 * well under a heartbeat TTL. Why push and not scrape: see docs/observability.md.
 * Failures to reach the control plane are logged once per outage; the next report carries
 * the totals anyway.
 */
import type { Logger } from 'pino';
import { messageOf } from '../errors.js';
import type { HealthStatus } from '../core/health.js';
import type { SidecarMetrics } from '../telemetry/metrics.js';
import type { TapFilter, TelemetryReport } from '../telemetry/snapshot.js';
import type { TapRecorder } from '../telemetry/tap.js';

type PerService = Record<string, Record<string, number>>;

/** Where reports go (src/client's ControlPlaneClient is one). */
export interface TelemetrySink {
  /** The answer may carry the live taps' filters for this sidecar's service. */
  pushTelemetry(service: string, id: string, report: TelemetryReport): Promise<{ tap?: TapFilter[] } | unknown>;
}

/** What a report reads of the sidecar's status (the sidecar's SidecarStatus is one). */
export interface ReportedStatus {
  readonly app: { readonly status: HealthStatus; readonly output: string } | undefined;
  readonly registration: string | undefined;
  readonly controlPlane: string;
  readonly upstreams: Readonly<Record<string, { readonly state: string; readonly endpoints: readonly unknown[]; readonly ejected: Iterable<string> }>>;
  readonly mtls: { readonly spiffeId: string | null; readonly notAfter: string | null } | undefined;
}

export interface ReporterOptions {
  readonly client: TelemetrySink;
  readonly service: string;
  readonly id: string;
  readonly intervalMs: number;
  readonly logger: Logger;
  readonly metrics: SidecarMetrics | undefined;
  /** The admin listener's address (host:port), reported for Prometheus' service discovery; null when metrics are off. */
  readonly admin: string | null;
  /** The live tap's recorder: its events go in each report, its filters come with the answer. */
  readonly tap: TapRecorder | undefined;
  readonly stats: { readonly retry: { snapshot(): PerService }; readonly circuit: { snapshot(): PerService }; readonly outlier: { snapshot(): PerService } };
  status(): ReportedStatus;
  openConnections(): number;
}

function column(table: PerService, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [service, row] of Object.entries(table)) out[service] = row[name] ?? 0;
  return out;
}

export class TelemetryReporter {
  readonly #options: ReporterOptions;
  readonly #startedAt = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> | undefined;
  #again = false;
  #failing = false;
  #stopped = false;

  constructor(options: ReporterOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#options.intervalMs <= 0) return;
    this.#timer = setInterval(() => this.reportNow(), this.#options.intervalMs);
    this.#timer.unref();
    this.reportNow();
  }

  /** Send a report now (one at a time; a request while one is in flight sends another after it). */
  reportNow(): void {
    if (this.#stopped || this.#options.intervalMs <= 0) return;
    if (this.#sending !== undefined) {
      this.#again = true;
      return;
    }
    this.#sending = this.#send().finally(() => {
      this.#sending = undefined;
      if (this.#again) {
        this.#again = false;
        this.reportNow();
      }
    });
  }

  async build(): Promise<TelemetryReport> {
    const o = this.#options;
    const status = o.status();
    return {
      at: Date.now(),
      startedAt: this.#startedAt,
      intervalMs: o.intervalMs,
      app: status.app === undefined ? null : { status: status.app.status, output: status.app.output.slice(0, 1_024) },
      registration: status.registration ?? null,
      controlPlane: status.controlPlane,
      upstreams: Object.fromEntries(Object.entries(status.upstreams).map(([service, c]) => [service, { state: c.state, endpoints: c.endpoints.length, ejected: [...c.ejected] }])),
      traffic: o.metrics === undefined ? [] : o.metrics.traffic(),
      retries: column(o.stats.retry.snapshot(), 'retries'),
      ejections: column(o.stats.outlier.snapshot(), 'ejections'),
      circuitRejections: column(o.stats.circuit.snapshot(), 'rejected'),
      tlsHandshakeFailures: o.metrics?.tlsHandshakeFailures ?? 0,
      openConnections: o.openConnections(),
      certificate: status.mtls?.spiffeId != null && status.mtls.notAfter !== null ? { spiffeId: status.mtls.spiffeId, notAfter: status.mtls.notAfter } : null,
      admin: o.metrics === undefined ? null : o.admin,
      tap: o.tap?.drain() ?? [],
    };
  }

  async #send(): Promise<void> {
    const o = this.#options;
    try {
      const answer = await o.client.pushTelemetry(o.service, o.id, await this.build());
      const tap = typeof answer === 'object' && answer !== null && 'tap' in answer && Array.isArray(answer.tap) ? answer.tap as TapFilter[] : [];
      o.tap?.setFilters(tap);
      if (this.#failing) o.logger.info('telemetry reports reach the control plane again');
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) o.logger.warn({ err: messageOf(err) }, 'cannot send telemetry to the control plane; will keep trying');
      this.#failing = true;
    }
  }

  /** Stop reporting; waits for a report in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#sending;
  }
}
