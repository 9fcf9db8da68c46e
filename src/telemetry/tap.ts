/**
 * Live tap (`trellis tap SERVICE`, Linkerd's `viz tap`), both ends:
 *
 *  - the sidecar's {@link TapRecorder}: while the control plane asks for a tap of its service
 *    (the answer to each telemetry report carries the filters), requests that match a filter
 *    are summarised (src/proxy/layers/tap.ts) and the next report carries them — at most
 *    MAX_TAP_EVENTS per report interval, the first ones (a sample, not every request);
 *  - the control plane's {@link TapHub}: the open tap streams, the filters to hand each
 *    sidecar of their service, and the delivery of the events that reports bring (through the
 *    store's watch, so a report to any replica reaches the stream, src/telemetry/collector.ts).
 *
 * A summary holds method, path (without its query), authority, status, latency, caller and its
 * identity, endpoint, retries, error code and request id: never a body, a query string, or the
 * value of any other header (authorization, cookies…).
 */
import { MAX_TAP_EVENTS, type TapEvent, type TapFilter } from './snapshot.js';

export function tapMatches(filter: TapFilter, method: string, path: string): boolean {
  return (filter.method === undefined || filter.method === method) && (filter.path === undefined || path.startsWith(filter.path));
}

export class TapRecorder {
  #filters: readonly TapFilter[] = [];
  #events: TapEvent[] = [];

  /** The filters the control plane asked for (none: tapping stops, the held events are dropped). */
  setFilters(filters: readonly TapFilter[]): void {
    this.#filters = filters;
    if (filters.length === 0) this.#events = [];
  }

  /** Whether a request of this method and path is to be recorded now. */
  wants(method: string, path: string): boolean {
    if (this.#filters.length === 0 || this.#events.length >= MAX_TAP_EVENTS) return false;
    return this.#filters.some((f) => tapMatches(f, method, path));
  }

  record(event: TapEvent): void {
    if (this.#events.length < MAX_TAP_EVENTS) this.#events.push(event);
  }

  /** The events held since the last report (for the next one). */
  drain(): TapEvent[] {
    const events = this.#events;
    this.#events = [];
    return events;
  }
}

export interface TapSession {
  readonly service: string;
  readonly filter: TapFilter;
  /** A request seen by a sidecar of the service (instance = its id). */
  onEvent(instance: string, event: TapEvent): void;
  /**
   * Every sidecar of the service now reporting holds the filter: it sent a report after the one
   * whose answer handed it over (a sidecar sends its reports one after another, applying each
   * answer first). Sent again when the number of sidecars changes.
   */
  onArmed(sidecars: number): void;
}

interface OpenSession {
  readonly session: TapSession;
  readonly since: number;
  readonly handed: Set<string>;
  readonly holding: Set<string>;
  armedAt: number;
}

export class TapHub {
  readonly #sessions = new Set<OpenSession>();
  readonly #reporting: (service: string) => readonly string[];

  /** `reporting`: the ids of the sidecars of a service that report now. */
  constructor(reporting: (service: string) => readonly string[]) {
    this.#reporting = reporting;
  }

  /** Open a tap; returns its close. */
  open(session: TapSession, now = Date.now()): () => void {
    const open: OpenSession = { session, since: now, handed: new Set(), holding: new Set(), armedAt: -1 };
    this.#sessions.add(open);
    return () => this.#sessions.delete(open);
  }

  /** The filters for a sidecar's report answer (and notes that this sidecar has them). */
  filtersFor(service: string, id: string): TapFilter[] {
    const filters: TapFilter[] = [];
    for (const open of this.#sessions) {
      if (open.session.service !== service) continue;
      filters.push(open.session.filter);
      if (open.handed.has(id)) open.holding.add(id);
      else open.handed.add(id);
      this.#checkArmed(open);
    }
    return filters;
  }

  /** Events a sidecar's report brought. */
  deliver(service: string, id: string, events: readonly TapEvent[]): void {
    for (const open of this.#sessions) {
      if (open.session.service !== service) continue;
      for (const event of events) {
        if (event.at >= open.since && tapMatches(open.session.filter, event.method, event.path)) open.session.onEvent(id, event);
      }
    }
  }

  /** Check every open tap (a sidecar came or went). */
  refresh(): void {
    for (const open of this.#sessions) this.#checkArmed(open);
  }

  #checkArmed(open: OpenSession): void {
    const reporting = this.#reporting(open.session.service);
    if (reporting.length === 0 || !reporting.every((id) => open.holding.has(id)) || open.armedAt === reporting.length) return;
    open.armedAt = reporting.length;
    open.session.onArmed(reporting.length);
  }
}
