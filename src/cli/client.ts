/**
 * A small typed client for the control plane API (undici). Error bodies become
 * TrellisErrors with the server's code; an unreachable control plane gets its own code.
 */
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { ErrorCodes, TrellisError, type ErrorCode, messageOf } from '../errors.js';
import type { HeartbeatResult } from '../registry/registry.js';
import type { Instance, RegistryEvent, ServiceSummary } from '../registry/types.js';

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

  /** Stream registry events (NDJSON) until the signal aborts or the server ends the stream. */
  async watch(options: { service?: string; after?: number; signal?: AbortSignal }, onEvent: (event: RegistryEvent) => void): Promise<void> {
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
