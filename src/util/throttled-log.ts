/**
 * Logging for events a remote peer can trigger at will (garbage packets, queries
 * while the registry is down): every occurrence at debug, but a warning at most
 * once per interval, carrying how many were suppressed, so a flood cannot fill
 * the logs. Used by DNS, the sidecar's listeners and mutual TLS.
 */
/** The two levels a throttled log writes (a pino logger has both). */
export interface ThrottledLogger {
  warn(obj: object, msg: string): void;
  debug?(obj: object, msg: string): void;
}

export const DEFAULT_WARN_INTERVAL_MS = 60_000;

export class ThrottledLog {
  private total = 0;
  private suppressed = 0;
  private lastWarnAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly logger: ThrottledLogger | undefined,
    private readonly message: string,
    private readonly intervalMs: number = DEFAULT_WARN_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** How many events were reported since the server started. */
  get count(): number {
    return this.total;
  }

  report(details: object): void {
    this.total += 1;
    const entry = { ...details, total: this.total };
    this.logger?.debug?.(entry, this.message);
    const now = this.now();
    if (now - this.lastWarnAt < this.intervalMs) {
      this.suppressed += 1;
      return;
    }
    this.logger?.warn({ ...entry, suppressedSinceLastWarning: this.suppressed }, `${this.message} (warned about at most once every ${Math.round(this.intervalMs / 1000)} s)`);
    this.lastWarnAt = now;
    this.suppressed = 0;
  }
}
