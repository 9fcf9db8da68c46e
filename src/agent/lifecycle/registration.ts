/**
 * The sidecar's instance in the registry: registered (address and port of the inbound
 * listener) once the app passes its local check, then a TTL heartbeat every ttl/3 while
 * it keeps passing. When the app fails, heartbeats stop and the control plane marks the
 * instance critical when the TTL runs out. An instance the control plane forgot (reaped,
 * or a fresh store) is registered again; an unreachable control plane is retried with
 * back-off. `deregister()` ends it all (drain). While registered, the sidecar also holds a
 * presence stream to the control plane (presence.ts): its dropping tells the control plane
 * this process is gone, long before the TTL. Heartbeats go over the keep-alive stream (one
 * long-lived connection, a line per heartbeat: src/client/heartbeat-stream.ts); one that
 * cannot (the stream dropped, no ack in time, a control plane without the stream) is sent
 * as a plain HTTP heartbeat instead.
 */
import type { Logger } from 'pino';
import type { ControlPlaneClient } from '../../client/control-plane.js';
import { ErrorCodes, isTrellisError, messageOf } from '../../errors.js';
import { backoffDelay } from '../../proxy/layers/backoff.js';
import type { HeartbeatStream } from '../../client/heartbeat-stream.js';
import { PresenceStream } from './presence.js';

export type RegistrationState = 'waiting-for-app' | 'registering' | 'registered' | 'deregistered';

export interface RegistrationOptions {
  readonly client: ControlPlaneClient;
  readonly service: string;
  readonly id: string;
  /** The registration body (address, port, weight, metadata, ttl). */
  readonly body: Readonly<Record<string, unknown>>;
  readonly ttlMs: number;
  readonly logger: Logger;
  /** A heartbeat's ack on the keep-alive stream within this, or it goes over HTTP (default 10 s). */
  readonly heartbeatAckTimeoutMs?: number;
}

export class Registration {
  readonly #options: RegistrationOptions;
  #state: RegistrationState = 'waiting-for-app';
  #appPassing = false;
  /** The control plane answered the last call. */
  #reachable: boolean | undefined;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #busy: Promise<void> | undefined;
  #stopped = false;
  readonly #presence: PresenceStream;
  readonly #stream: HeartbeatStream;
  /** Heartbeats sent over the keep-alive stream and over plain HTTP, and stream attempts that fell back. */
  readonly #sent = { stream: 0, http: 0, fallbacks: 0 };

  constructor(options: RegistrationOptions) {
    this.#options = options;
    this.#presence = new PresenceStream(options.client, options.service, options.id, options.logger);
    this.#stream = options.client.heartbeatStream(options.service, options.heartbeatAckTimeoutMs);
  }

  /** Heartbeats sent so far over the keep-alive stream and over plain HTTP, and stream attempts that fell back to HTTP. */
  get heartbeats(): { readonly stream: number; readonly http: number; readonly fallbacks: number } {
    return { ...this.#sent };
  }

  get state(): RegistrationState {
    return this.#state;
  }

  /** The presence stream (the control plane's fast failure detector) is open. */
  get present(): boolean {
    return this.#presence.open;
  }

  /** Whether the last call reached the control plane (undefined before the first). */
  get reachable(): boolean | undefined {
    return this.#reachable;
  }

  /** The app's local check changed: register / heartbeat while passing, stop while failing. */
  setAppPassing(passing: boolean): void {
    this.#appPassing = passing;
    if (passing) this.#schedule(0);
  }

  /** Stop heartbeating and remove the instance from the registry (best effort). */
  async deregister(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#busy;
    const wasRegistered = this.#state === 'registered' || this.#state === 'registering';
    this.#state = 'deregistered';
    this.#stream.close();
    if (!wasRegistered) { this.#presence.close(); return; }
    const { client, service, id, logger } = this.#options;
    try {
      await client.deregister(service, id);
      logger.info('deregistered');
    } catch (err) {
      if (!(isTrellisError(err) && err.code === ErrorCodes.INSTANCE_NOT_FOUND)) {
        logger.warn({ err: messageOf(err) }, 'could not deregister; the instance will go critical when its TTL runs out');
      }
    } finally {
      // Only now: a stream that dropped before the deregistration would read as a crash.
      this.#presence.close();
    }
  }

  /** Stop without deregistering (the instance goes critical by TTL). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#stream.close();
    this.#presence.close();
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => { this.#busy ??= this.#tick().finally(() => { this.#busy = undefined; }); }, delayMs);
    this.#timer.unref();
  }

  /** Over the keep-alive stream if it can; else (and after it failed to carry this one) over HTTP. */
  async #heartbeat(): Promise<void> {
    const { client, service, id, logger } = this.#options;
    if (this.#stream.available) {
      let ack;
      try {
        ack = await this.#stream.beat([id]);
      } catch (err) {
        this.#sent.fallbacks += 1;
        logger.debug({ err: messageOf(err) }, 'heartbeat over the keep-alive stream failed; sending it over HTTP');
      }
      if (ack !== undefined) {
        // Its verdict on the instance holds (not found: register again).
        const failure = ack.failed[0];
        if (failure !== undefined) throw failure.error;
        this.#sent.stream += 1;
        return;
      }
    }
    await client.heartbeat(service, id);
    this.#sent.http += 1;
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    const heartbeatEveryMs = Math.max(100, Math.floor(this.#options.ttlMs / 3));
    if (!this.#appPassing) {
      // Nothing to do until the app passes again (setAppPassing schedules the next tick).
      return;
    }
    const { client, service, id, logger } = this.#options;
    try {
      if (this.#state !== 'registered') {
        this.#state = 'registering';
        await client.register(service, id, { ...this.#options.body });
        if (this.#stopped) return;
        this.#state = 'registered';
        logger.info('registered');
        this.#presence.start();
      } else {
        await this.#heartbeat();
      }
      this.#reachable = true;
      this.#failures = 0;
      this.#schedule(heartbeatEveryMs);
    } catch (err) {
      if (this.#stopped) return;
      if (isTrellisError(err) && err.code === ErrorCodes.INSTANCE_NOT_FOUND) {
        logger.warn('the control plane no longer knows this instance: registering it again');
        this.#state = 'registering';
        this.#schedule(0);
        return;
      }
      this.#reachable = !(isTrellisError(err) && err.code === ErrorCodes.CONTROL_PLANE_UNREACHABLE);
      if (this.#failures === 0) logger.warn({ err: messageOf(err) }, 'cannot reach the control plane to register or heartbeat; retrying');
      this.#failures += 1;
      this.#schedule(Math.min(heartbeatEveryMs, backoffDelay(this.#failures, 200, 5_000, Math.random)));
    }
  }
}
