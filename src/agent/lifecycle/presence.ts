/**
 * The sidecar's presence stream (src/health/presence.ts on the control plane): held open
 * while the instance is registered, reopened at once (short back-off) when it drops, closed
 * only after a deregistration. If this process dies, the control plane sees the connection
 * drop and marks the instance critical within about a second.
 */
import type { Logger } from 'pino';
import type { ControlPlaneClient } from '../../client/control-plane.js';
import { messageOf } from '../../errors.js';
import { backoffDelay, sleep } from '../../proxy/layers/backoff.js';

export class PresenceStream {
  readonly #abort = new AbortController();
  #running = false;
  #open = false;

  constructor(
    private readonly client: ControlPlaneClient,
    private readonly service: string,
    private readonly id: string,
    private readonly logger: Logger,
  ) {}

  /** Open the stream and keep it open (a no-op when already running). */
  start(): void {
    if (this.#running || this.#abort.signal.aborted) return;
    this.#running = true;
    void this.#run();
  }

  close(): void {
    this.#abort.abort();
  }

  /** The control plane holds the stream now (it said so on opening it). */
  get open(): boolean {
    return this.#open;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let attempt = 0;
    while (!signal.aborted) {
      const opened = Date.now();
      try {
        await this.client.presence({ service: this.service, id: this.id, signal }, () => { attempt = 0; this.#open = true; });
      } catch (err) {
        if (signal.aborted) return;
        if (attempt === 0) this.logger.debug({ err: messageOf(err) }, 'presence stream to the control plane dropped; reopening');
      } finally {
        this.#open = false;
      }
      if (Date.now() - opened > 1_000) attempt = 0;
      attempt += 1;
      if (!await sleep(backoffDelay(attempt, 50, 2_000, Math.random), signal)) return;
    }
  }
}
