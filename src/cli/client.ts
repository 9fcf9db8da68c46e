/**
 * A small typed client for the control plane API (undici). Error bodies become
 * TrellisErrors with the server's code; an unreachable control plane gets its own code.
 */
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { ErrorCodes, TrellisError, type ErrorCode, messageOf } from '../errors.js';
import type { HeartbeatResult } from '../registry/registry.js';
import type { Instance, RegistryEvent, ServiceSummary } from '../registry/types.js';
import type { TelemetryReport } from '../telemetry/snapshot.js';
import type { CheckResults, EdgeStats, ServiceStats } from '../telemetry/aggregate.js';

/** Three of the server's 15 s keep-alives. */
export const DEFAULT_WATCH_IDLE_TIMEOUT_MS = 45_000;

interface ErrorBody { error?: { code?: string; message?: string; field?: string } }

export class ControlPlaneClient {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new TrellisError(ErrorCodes.BAD_FLAG, `--control-plane must be a URL such as http://127.0.0.1:7700 (got ${JSON.stringify(baseUrl)})`, { field: 'control-plane' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TrellisError(ErrorCodes.BAD_FLAG, `--control-plane must be an http:// or https:// URL (got ${JSON.stringify(baseUrl)})`, { field: 'control-plane' });
    }
    this.baseUrl = url.origin;
  }

  async #call<T>(method: 'GET' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    let response;
    try {
      response = await request(`${this.baseUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
    } catch (err) {
      throw new TrellisError(ErrorCodes.CONTROL_PLANE_UNREACHABLE,
        `cannot reach the control plane at ${this.baseUrl}: ${messageOf(err)} (is \`trellis server\` running? set --control-plane or TRELLIS_CONTROL_PLANE)`, { cause: err });
    }
    const text = await response.body.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new TrellisError(ErrorCodes.CONTROL_PLANE_UNREACHABLE, `${this.baseUrl} answered ${response.statusCode} with a body that is not JSON: is it a Trellis control plane?`);
    }
    if (response.statusCode >= 400) {
      const e = (parsed as ErrorBody | undefined)?.error;
      const code = (e?.code ?? ErrorCodes.INTERNAL) as ErrorCode;
      throw new TrellisError(code, e?.message ?? `HTTP ${response.statusCode}`, e?.field === undefined ? {} : { field: e.field });
    }
    return parsed as T;
  }

  services(): Promise<{ services: ServiceSummary[]; revision: number }> {
    return this.#call('GET', '/v1/services');
  }

  instances(service: string, healthyOnly = false): Promise<{ service: string; instances: Instance[]; revision: number }> {
    return this.#call('GET', `/v1/services/${encodeURIComponent(service)}/instances${healthyOnly ? '?healthy=true' : ''}`);
  }

  register(service: string, id: string, body: Record<string, unknown>): Promise<{ instance: Instance; revision: number }> {
    return this.#call('PUT', `/v1/services/${encodeURIComponent(service)}/instances/${encodeURIComponent(id)}`, body);
  }

  deregister(service: string, id: string): Promise<{ revision: number }> {
    return this.#call('DELETE', `/v1/services/${encodeURIComponent(service)}/instances/${encodeURIComponent(id)}`);
  }

  heartbeat(service: string, id: string): Promise<HeartbeatResult> {
    return this.#call('PUT', `/v1/services/${encodeURIComponent(service)}/instances/${encodeURIComponent(id)}/heartbeat`);
  }

  status(): Promise<{ version: string; revision: number; store: Record<string, unknown> }> {
    return this.#call('GET', '/v1/status');
  }

  /** A sidecar's telemetry report (src/telemetry/reporter.ts). */
  pushTelemetry(service: string, id: string, report: TelemetryReport): Promise<{ accepted: true }> {
    return this.#call('PUT', `/v1/telemetry/${encodeURIComponent(service)}/${encodeURIComponent(id)}`, report);
  }

  /** Golden metrics per service over the last `window` (e.g. "1m"). */
  stat(options: { window?: string; service?: string } = {}): Promise<{ window: string; services: ServiceStats[] }> {
    const query = new URLSearchParams();
    if (options.window !== undefined) query.set('window', options.window);
    if (options.service !== undefined) query.set('service', options.service);
    return this.#call('GET', `/v1/stat?${query.toString()}`);
  }

  /** Who calls whom, with golden metrics per edge. */
  edges(options: { window?: string } = {}): Promise<{ window: string; edges: EdgeStats[] }> {
    return this.#call('GET', `/v1/edges${options.window === undefined ? '' : `?window=${encodeURIComponent(options.window)}`}`);
  }

  /** The control plane's own checks (store writable, sidecars connected and in sync, clock skew…). */
  check(): Promise<CheckResults> {
    return this.#call('GET', '/v1/check');
  }

  /**
   * Stream registry events (NDJSON) until the signal aborts or the server ends the stream.
   * The server sends a keep-alive line every 15 s; when nothing at all arrives for
   * `idleTimeoutMs` (default 45 s) the control plane is taken as gone even without a TCP
   * reset (a frozen host, a dropped network path) and the watch fails with
   * TRELLIS_ERR_CONTROL_PLANE_UNREACHABLE, so callers can mark their tables stale.
   */
  async watch(options: { service?: string; after?: number; signal?: AbortSignal; idleTimeoutMs?: number }, onEvent: (event: RegistryEvent) => void): Promise<void> {
    const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_WATCH_IDLE_TIMEOUT_MS;
    const idle = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const touch = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(), idleTimeoutMs);
      timer.unref();
    };
    const signal = options.signal === undefined ? idle.signal : AbortSignal.any([options.signal, idle.signal]);
    touch();
    try {
      await this.#watch({ ...options, signal }, onEvent, touch);
    } catch (err) {
      if (idle.signal.aborted && !options.signal?.aborted) throw this.#idleError(idleTimeoutMs);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    if (idle.signal.aborted && !options.signal?.aborted) throw this.#idleError(idleTimeoutMs);
  }

  #idleError(idleTimeoutMs: number): TrellisError {
    return new TrellisError(ErrorCodes.CONTROL_PLANE_UNREACHABLE,
      `the control plane at ${this.baseUrl} sent nothing, not even a keep-alive, for ${idleTimeoutMs} ms: taking it as gone`);
  }

  async #watch(options: { service?: string; after?: number; signal: AbortSignal }, onEvent: (event: RegistryEvent) => void, touch: () => void): Promise<void> {
    const query = new URLSearchParams({ format: 'ndjson' });
    if (options.service !== undefined) query.set('service', options.service);
    if (options.after !== undefined) query.set('after', String(options.after));
    let response;
    try {
      response = await request(`${this.baseUrl}/v1/watch?${query.toString()}`, {
        method: 'GET', bodyTimeout: 0, ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (err) {
      if (options.signal?.aborted) return;
      throw new TrellisError(ErrorCodes.CONTROL_PLANE_UNREACHABLE, `cannot reach the control plane at ${this.baseUrl}: ${messageOf(err)}`, { cause: err });
    }
    if (response.statusCode >= 400) {
      const e = (JSON.parse(await response.body.text()) as ErrorBody).error;
      throw new TrellisError((e?.code ?? ErrorCodes.INTERNAL) as ErrorCode, e?.message ?? `HTTP ${response.statusCode}`, e?.field === undefined ? {} : { field: e.field });
    }
    const lines = createInterface({ input: response.body, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        touch();
        if (line.trim() === '') continue;
        const parsed = JSON.parse(line) as RegistryEvent | ErrorBody;
        if ('error' in parsed && parsed.error !== undefined) {
          throw new TrellisError((parsed.error.code ?? ErrorCodes.INTERNAL) as ErrorCode, parsed.error.message ?? 'watch ended');
        }
        onEvent(parsed as RegistryEvent);
      }
    } catch (err) {
      if (options.signal?.aborted) return;
      throw err;
    }
  }
}
