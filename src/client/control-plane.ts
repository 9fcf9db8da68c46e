/**
 * A small typed client for the control plane API (node:http, ./http.ts). Error bodies become
 * TrellisErrors with the server's code; an unreachable control plane gets its own code.
 */
import { createInterface } from 'node:readline';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import type { HeartbeatResult } from '../registry/registry.js';
import type { Instance, RegistryEvent, ServiceSummary } from '../registry/types.js';
import type { CheckResult, PolicyEvent } from '../security/authz/store.js';
import type { StoredPolicy } from '../security/authz/types.js';
import type { ServiceDefaults, ServiceDefaultsEvent } from '../core/service-defaults.js';
import type { RouteEvent, StoredRoute } from '../core/route.js';
import type { StoredGateway } from '../core/gateway.js';
import type { CaStatus } from '../security/ca/authority.js';
import type { IssuedCertificate, SignBody } from '../security/ca/issuer.js';
import type { JoinTokenRecord, NewJoinToken } from '../security/tokens/join-tokens.js';
import type { SessionGrant } from '../security/tokens/sessions.js';
import type { TapEvent, TapFilter, TelemetryReport } from '../telemetry/snapshot.js';
import type { CheckResults, EdgeStats, RouteStats, ServiceStats } from '../telemetry/aggregate.js';
import { DEFAULT_ACK_TIMEOUT_MS, HEARTBEAT_PROTOCOL, HeartbeatStream, heartbeatStreamPath } from './heartbeat-stream.js';
import { HttpClientAgents, readText, type HttpAnswer } from './http.js';
import { remoteError } from './remote-error.js';

/** A match of one route that another route of the same service takes first (`wins` sorts first by name). */
export interface RouteOverlapReport {
  readonly service: string;
  readonly wins: string;
  readonly shadowed: string;
}

/** What a live tap stream carries: the sidecars it reaches (armed), then one message per request seen. */
export type TapMessage = { type: 'armed'; sidecars: number } | ({ type: 'request'; instance: string } & TapEvent);

/** Instances per page when the client walks a list. */
export const DEFAULT_PAGE_SIZE = 500;

export interface InstancePageAnswer {
  instances: Instance[];
  /** The revision of the list's first page: watch after it. */
  revision: number;
  /** Pass to get the next page; null on the last one. */
  cursor: string | null;
}

export type BulkAnswer<T> = {
  results: Array<({ ok: true } & T) | { ok: false; error: { code: string; message: string; field?: string } }>;
  failed: number;
};

function pageQuery(options: { limit?: number; cursor?: string; healthyOnly?: boolean }): string {
  const query = new URLSearchParams({ limit: String(options.limit ?? DEFAULT_PAGE_SIZE) });
  if (options.cursor !== undefined) query.set('cursor', options.cursor);
  if (options.healthyOnly === true) query.set('healthy', 'true');
  return query.toString();
}

/** Three of the server's 15 s keep-alives. */
export const DEFAULT_WATCH_IDLE_TIMEOUT_MS = 45_000;

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** The token a client sends: fixed (the CLI), or the newest one of a sidecar (its session). */
export type TokenSource = string | (() => string | undefined) | undefined;

/** Answers after which the same request is worth sending to another replica. */
function worthAnotherReplica(err: TrellisError): boolean {
  return err.code === ErrorCodes.CONTROL_PLANE_UNREACHABLE || err.code === ErrorCodes.STORE_CLOSED || err.code === ErrorCodes.STORE_UNAVAILABLE;
}

function parseBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TrellisError(ErrorCodes.BAD_FLAG, `--control-plane must be a URL such as http://127.0.0.1:7700, or several separated by commas (got ${JSON.stringify(raw)})`, { field: 'control-plane' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TrellisError(ErrorCodes.BAD_FLAG, `--control-plane must be an http:// or https:// URL (got ${JSON.stringify(raw)})`, { field: 'control-plane' });
  }
  return url.origin;
}

/** `http://a:7700,http://b:7700` (or an array) → the origins, in order, without duplicates. */
export function parseControlPlanes(value: string | readonly string[]): string[] {
  const list = (typeof value === 'string' ? value.split(',') : [...value]).map((v) => v.trim()).filter((v) => v !== '');
  if (list.length === 0) {
    throw new TrellisError(ErrorCodes.BAD_FLAG, '--control-plane names no control plane: give a URL such as http://127.0.0.1:7700', { field: 'control-plane' });
  }
  return [...new Set(list.map(parseBaseUrl))];
}

/**
 * Talks to one control plane, or to any of several replicas: a request that cannot be served
 * by the current one (unreachable, shutting down, its store unavailable) goes to the next, and
 * the one that answered becomes current.
 */
export class ControlPlaneClient {
  readonly baseUrls: readonly string[];
  readonly #token: TokenSource;
  /** Trusts `ca` for https:// control planes (absent: the system's roots). */
  readonly #agents: HttpClientAgents;
  #current = 0;

  /**
   * `token`: sent as `Authorization: Bearer` with every call that carries no other credential.
   * `tls.ca`: the CA (PEM) of an https:// control plane's certificate (--control-plane-ca).
   */
  constructor(baseUrls: string | readonly string[], token?: TokenSource, tls?: { readonly ca?: string }) {
    this.baseUrls = parseControlPlanes(baseUrls);
    this.#token = token;
    this.#agents = new HttpClientAgents(tls?.ca);
  }

  #unreachable(baseUrl: string, err: unknown): TrellisError {
    const hint = baseUrl.startsWith('https:')
      ? 'is `trellis server` running with --api-tls-cert, and does --control-plane-ca (TRELLIS_CONTROL_PLANE_CA) name the CA that signed its certificate?'
      : 'is `trellis server` running? set --control-plane or TRELLIS_CONTROL_PLANE; a control plane serving TLS needs https:// and --control-plane-ca';
    return new TrellisError(ErrorCodes.CONTROL_PLANE_UNREACHABLE, `cannot reach the control plane at ${baseUrl}: ${messageOf(err)} (${hint})`, { cause: err });
  }

  #authorization(): Record<string, string> {
    const token = typeof this.#token === 'function' ? this.#token() : this.#token;
    return token === undefined ? {} : { authorization: `Bearer ${token}` };
  }

  /** The replica requests go to first. */
  get baseUrl(): string {
    return this.baseUrls[this.#current] ?? this.baseUrls[0] ?? '';
  }

  /** Try `attempt` on each replica in turn, starting with the current one. */
  async #failover<T>(attempt: (baseUrl: string) => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (let i = 0; i < this.baseUrls.length; i += 1) {
      const index = (this.#current + i) % this.baseUrls.length;
      try {
        const result = await attempt(this.baseUrls[index] ?? '');
        this.#current = index;
        return result;
      } catch (err) {
        if (!(err instanceof TrellisError) || !worthAnotherReplica(err)) throw err;
        lastError = err;
      }
    }
    throw lastError;
  }

  /** The current replica failed mid-stream: start with the next one next time. */
  #rotate(): void {
    this.#current = (this.#current + 1) % this.baseUrls.length;
  }

  #call<T>(method: Method, path: string, body?: unknown, given?: Record<string, string>): Promise<T> {
    const headers = given ?? this.#authorization();
    return this.#failover((baseUrl) => this.#callOne<T>(baseUrl, method, path, body, headers));
  }

  async #callOne<T>(baseUrl: string, method: Method, path: string, body: unknown, headers: Record<string, string>): Promise<T> {
    let response;
    try {
      response = await this.#agents.call(`${baseUrl}${path}`, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        idleTimeoutMs: 10_000,
      });
    } catch (err) {
      throw this.#unreachable(baseUrl, err);
    }
    let text: string;
    try {
      text = await readText(response.body);
    } catch (err) {
      throw this.#unreachable(baseUrl, err);
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new TrellisError(ErrorCodes.CONTROL_PLANE_UNREACHABLE, `${baseUrl} answered ${response.statusCode} with a body that is not JSON: is it a Trellis control plane?`);
    }
    if (response.statusCode >= 400) throw remoteError(response.statusCode, parsed);
    return parsed as T;
  }

  services(): Promise<{ services: ServiceSummary[]; revision: number }> {
    return this.#call('GET', '/v1/services');
  }

  /**
   * Every instance of a service, fetched a page at a time (so a large service never makes the
   * control plane build one huge answer); the revision is the first page's: watch after it.
   */
  async instances(service: string, healthyOnly = false, pageSize = DEFAULT_PAGE_SIZE): Promise<{ service: string; instances: Instance[]; revision: number }> {
    const instances: Instance[] = [];
    let cursor: string | undefined;
    let revision = 0;
    do {
      const page = await this.instancesPage(service, { limit: pageSize, healthyOnly, ...(cursor === undefined ? {} : { cursor }) });
      instances.push(...page.instances);
      revision = page.revision;
      cursor = page.cursor ?? undefined;
    } while (cursor !== undefined);
    return { service, instances, revision };
  }

  /** One page of a service's instances (`GET /v1/services/S/instances?limit=&cursor=`); `cursor` null on the last page. */
  instancesPage(service: string, options: { limit?: number; cursor?: string; healthyOnly?: boolean } = {}): Promise<InstancePageAnswer & { service: string }> {
    return this.#call('GET', `/v1/services/${encodeURIComponent(service)}/instances?${pageQuery(options)}`);
  }

  /** One page of every instance of every service (`GET /v1/instances?limit=&cursor=`). */
  allInstancesPage(options: { limit?: number; cursor?: string; healthyOnly?: boolean } = {}): Promise<InstancePageAnswer> {
    return this.#call('GET', `/v1/instances?${pageQuery(options)}`);
  }

  /** One service's instance counts by health (from the control plane's aggregates: cheap). */
  service(service: string): Promise<{ service: ServiceSummary; revision: number }> {
    return this.#call('GET', `/v1/services/${encodeURIComponent(service)}`);
  }

  /** Register up to 1,000 instances of one service in one call; results per entry, in order. */
  registerMany(service: string, instances: ReadonlyArray<Record<string, unknown> & { id: string }>): Promise<BulkAnswer<{ id: string; created: boolean; revision: number }>> {
    return this.#call('PUT', `/v1/services/${encodeURIComponent(service)}/instances`, { instances });
  }

  /** Heartbeats of up to 1,000 instances of one service in one call; results per id, in order. */
  heartbeatMany(service: string, ids: readonly string[]): Promise<BulkAnswer<{ status: string; ttlMs: number }>> {
    return this.#call('PUT', `/v1/services/${encodeURIComponent(service)}/heartbeats`, { ids });
  }

  register(service: string, id: string, body: Record<string, unknown>): Promise<{ instance: Instance; revision: number }> {
    return this.#call('PUT', `/v1/services/${encodeURIComponent(service)}/instances/${encodeURIComponent(id)}`, body);
  }

  deregister(service: string, id: string): Promise<{ revision: number }> {
    return this.#call('DELETE', `/v1/services/${encodeURIComponent(service)}/instances/${encodeURIComponent(id)}`);
  }

  /**
   * A keep-alive stream for heartbeats of `service`'s instances (one connection, many beats;
   * opened on its first beat, on the replica requests go to, failing over like a call).
   */
  heartbeatStream(service: string, ackTimeoutMs = DEFAULT_ACK_TIMEOUT_MS): HeartbeatStream {
    return new HeartbeatStream(() => this.#failover(async (baseUrl) => {
      let answer;
      try {
        answer = await this.#agents.upgrade(`${baseUrl}${heartbeatStreamPath(service)}`, HEARTBEAT_PROTOCOL, this.#authorization(), ackTimeoutMs);
      } catch (err) {
        throw this.#unreachable(baseUrl, err);
      }
      if ('socket' in answer) return answer;
      const { statusCode, body } = answer.refused;
      let parsed: unknown;
      try { parsed = JSON.parse(await readText(body)); } catch { parsed = undefined; }
      throw remoteError(statusCode, parsed);
    }), ackTimeoutMs);
  }

  heartbeat(service: string, id: string): Promise<HeartbeatResult> {
    return this.#call('PUT', `/v1/services/${encodeURIComponent(service)}/instances/${encodeURIComponent(id)}/heartbeat`);
  }

  /** Ask the CA for a certificate: with a join token (first time) or a renewal proof in the body. */
  signCertificate(body: SignBody, token?: string): Promise<IssuedCertificate> {
    // Never the admin token: a renewal carries its proof in the body.
    return this.#call('POST', '/v1/ca/sign', body, token === undefined ? {} : { authorization: `Bearer ${token}` });
  }

  /** Exchange the sidecar's token (join token or current session) for a new session of its service. */
  openSession(lifetimeMs: number): Promise<SessionGrant> {
    return this.#call('POST', '/v1/sessions', { lifetime: lifetimeMs });
  }

  caBundle(): Promise<{ trustDomain: string; federatedTrustDomains?: string[]; roots: string[] }> {
    return this.#call('GET', '/v1/ca/bundle');
  }

  createToken(body: { service?: string; namespace?: string; readOnly?: boolean; ttl?: string }): Promise<NewJoinToken> {
    return this.#call('POST', '/v1/tokens', body);
  }

  listTokens(): Promise<{ tokens: JoinTokenRecord[] }> {
    return this.#call('GET', '/v1/tokens');
  }

  revokeToken(id: string): Promise<{ revoked: string }> {
    return this.#call('DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
  }

  caStatus(): Promise<CaStatus & { issued: number; renewed: number; refused: Record<string, number> }> {
    return this.#call('GET', '/v1/ca');
  }

  rotateCa(): Promise<CaStatus> {
    return this.#call('POST', '/v1/ca/rotate', {});
  }

  status(): Promise<{ version: string; revision: number; store: Record<string, unknown>; xds?: { address: string } | null }> {
    return this.#call('GET', '/v1/status');
  }

  /** Every policy, or those that apply to `service` (its own and the mesh-wide ones). */
  policies(service?: string): Promise<{ policies: StoredPolicy[]; revision: number }> {
    return this.#call('GET', `/v1/policies${service === undefined ? '' : `?service=${encodeURIComponent(service)}`}`);
  }

  /** Validate every policy, then store them all (nothing is stored when one is invalid). */
  applyPolicies(policies: readonly unknown[]): Promise<{ policies: Array<{ policy: StoredPolicy; created: boolean }>; revision: number }> {
    return this.#call('PUT', '/v1/policies', { policies });
  }

  deletePolicy(name: string): Promise<{ revision: number }> {
    return this.#call('DELETE', `/v1/policies/${encodeURIComponent(name)}`);
  }

  checkPolicy(request: { from?: string; to: string; method?: string; path?: string; protocol?: 'http' | 'tcp' }): Promise<CheckResult> {
    return this.#call('POST', '/v1/policies/check', request);
  }

  /** Stream changes to the policies that apply to `service` (see `watch` for the idle timeout). */
  watchPolicies(options: { service: string; after?: number; signal?: AbortSignal; idleTimeoutMs?: number }, onEvent: (event: PolicyEvent) => void): Promise<void> {
    return this.#stream('/v1/watch/policies', options, onEvent);
  }

  /** Every service's resilience defaults, or those of `services`. */
  serviceDefaults(services?: readonly string[]): Promise<{ serviceDefaults: ServiceDefaults[]; revision: number }> {
    return this.#call('GET', `/v1/service-defaults${services === undefined ? '' : `?service=${encodeURIComponent(services.join(','))}`}`);
  }

  /** One service's defaults; TRELLIS_ERR_SERVICE_DEFAULTS_NOT_FOUND when it has none. */
  getServiceDefaults(service: string): Promise<{ serviceDefaults: ServiceDefaults; revision: number }> {
    return this.#call('GET', `/v1/service-defaults/${encodeURIComponent(service)}`);
  }

  /** Create or replace one service's defaults (the upstream-policy fields: timeout, retry, …). */
  putServiceDefaults(service: string, policy: Readonly<Record<string, unknown>>): Promise<{ serviceDefaults: ServiceDefaults; revision: number }> {
    return this.#call('PUT', `/v1/service-defaults/${encodeURIComponent(service)}`, policy);
  }

  /** Validate every entry (`{ service, ...policy }`), then store them all (nothing when one is invalid). */
  applyServiceDefaults(entries: readonly unknown[]): Promise<{ serviceDefaults: Array<{ serviceDefaults: ServiceDefaults; created: boolean }>; revision: number }> {
    return this.#call('PUT', '/v1/service-defaults', { serviceDefaults: entries });
  }

  deleteServiceDefaults(service: string): Promise<{ revision: number }> {
    return this.#call('DELETE', `/v1/service-defaults/${encodeURIComponent(service)}`);
  }

  /** Stream changes to the defaults of `services` (see `watch` for the idle timeout). */
  watchServiceDefaults(options: { services: readonly string[]; after?: number; signal?: AbortSignal; idleTimeoutMs?: number }, onEvent: (event: ServiceDefaultsEvent) => void): Promise<void> {
    const { services, ...rest } = options;
    return this.#stream('/v1/watch/service-defaults', { ...rest, service: services.join(',') }, onEvent);
  }

  /** Every traffic route, or those attached to `services`. */
  trafficRoutes(services?: readonly string[]): Promise<{ routes: StoredRoute[]; revision: number }> {
    return this.#call('GET', `/v1/traffic-routes${services === undefined ? '' : `?service=${encodeURIComponent(services.join(','))}`}`);
  }

  /** One gateway resource; TRELLIS_ERR_GATEWAY_NOT_FOUND when there is none of that name. */
  getGateway(name: string): Promise<{ gateway: StoredGateway; revision: number }> {
    return this.#call('GET', `/v1/gateways/${encodeURIComponent(name)}`);
  }

  /** One traffic route; TRELLIS_ERR_TRAFFIC_ROUTE_NOT_FOUND when there is none of that name. */
  getTrafficRoute(name: string): Promise<{ route: StoredRoute; revision: number }> {
    return this.#call('GET', `/v1/traffic-routes/${encodeURIComponent(name)}`);
  }

  /** Validate every route, then store them all (nothing when one is invalid); `overlaps` reports matches another route takes first. */
  applyTrafficRoutes(routes: readonly unknown[]): Promise<{ routes: Array<{ route: StoredRoute; created: boolean }>; overlaps: RouteOverlapReport[]; revision: number }> {
    return this.#call('PUT', '/v1/traffic-routes', { routes });
  }

  deleteTrafficRoute(name: string): Promise<{ revision: number }> {
    return this.#call('DELETE', `/v1/traffic-routes/${encodeURIComponent(name)}`);
  }

  /** Stream changes to the routes attached to `services` (see `watch` for the idle timeout). */
  watchTrafficRoutes(options: { services: readonly string[]; after?: number; signal?: AbortSignal; idleTimeoutMs?: number }, onEvent: (event: RouteEvent) => void): Promise<void> {
    const { services, ...rest } = options;
    return this.#stream('/v1/watch/traffic-routes', { ...rest, service: services.join(',') }, onEvent);
  }

  /** A sidecar's telemetry report (src/agent/reporter.ts). */
  pushTelemetry(service: string, id: string, report: TelemetryReport): Promise<{ accepted: true; tap?: TapFilter[] }> {
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
  /** Golden metrics per route of one service (inbound), over the window. */
  routes(options: { service: string; window?: string }): Promise<{ window: string; service: string; routes: RouteStats[] }> {
    const query = new URLSearchParams({ service: options.service });
    if (options.window !== undefined) query.set('window', options.window);
    return this.#call('GET', `/v1/routes?${query.toString()}`);
  }

  edges(options: { window?: string } = {}): Promise<{ window: string; edges: EdgeStats[] }> {
    return this.#call('GET', `/v1/edges${options.window === undefined ? '' : `?window=${encodeURIComponent(options.window)}`}`);
  }

  /** The control plane's own checks (store writable, sidecars connected and in sync, clock skew…). */
  check(): Promise<CheckResults> {
    return this.#call('GET', '/v1/check');
  }

  /** Hold a registered sidecar's presence stream open until the signal aborts or it drops (src/health/presence.ts). */
  presence(options: { service: string; id: string; signal: AbortSignal }, onEvent: (event: { type: string }) => void): Promise<void> {
    return this.#stream(`/v1/services/${encodeURIComponent(options.service)}/instances/${encodeURIComponent(options.id)}/presence`, { signal: options.signal }, onEvent);
  }

  /**
   * Stream registry events (NDJSON) until the signal aborts or the server ends the stream.
   * The server sends a keep-alive line every 15 s; when nothing at all arrives for
   * `idleTimeoutMs` (default 45 s) the control plane is taken as gone even without a TCP
   * reset (a frozen host, a dropped network path) and the watch fails with
   * TRELLIS_ERR_CONTROL_PLANE_UNREACHABLE, so callers can mark their tables stale.
   */
  watch(options: { service?: string; after?: number; signal?: AbortSignal; idleTimeoutMs?: number }, onEvent: (event: RegistryEvent) => void): Promise<void> {
    return this.#stream('/v1/watch', options, onEvent);
  }

  /** A live tap of one service's requests (`trellis tap`): NDJSON messages until `signal` aborts. */
  tap(options: { service: string; path?: string; method?: string; signal?: AbortSignal }, onMessage: (message: TapMessage) => void): Promise<void> {
    const extra: Record<string, string> = {};
    if (options.path !== undefined) extra['path'] = options.path;
    if (options.method !== undefined) extra['method'] = options.method;
    return this.#stream('/v1/tap', { service: options.service, extra, ...(options.signal === undefined ? {} : { signal: options.signal }) }, onMessage);
  }

  async #stream<E>(path: string, options: { service?: string; after?: number; extra?: Record<string, string>; signal?: AbortSignal; idleTimeoutMs?: number }, onEvent: (event: E) => void): Promise<void> {
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
    const baseUrl = this.baseUrl;
    try {
      // Connecting fails over between replicas; once streaming, a replica that goes away ends
      // the watch (callers resume from their last revision) and the next one is tried first.
      const response = await this.#failover((url) => this.#openWatch(url, path, { ...options, signal }));
      if (response === undefined) return;
      await this.#readWatch(response, signal, onEvent, touch);
    } catch (err) {
      if (!options.signal?.aborted && this.baseUrl === baseUrl) this.#rotate();
      if (idle.signal.aborted && !options.signal?.aborted) throw this.#idleError(idleTimeoutMs);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    if (idle.signal.aborted && !options.signal?.aborted) {
      this.#rotate();
      throw this.#idleError(idleTimeoutMs);
    }
  }

  #idleError(idleTimeoutMs: number): TrellisError {
    return new TrellisError(ErrorCodes.CONTROL_PLANE_UNREACHABLE,
      `the control plane at ${this.baseUrl} sent nothing, not even a keep-alive, for ${idleTimeoutMs} ms: taking it as gone`);
  }

  async #openWatch(baseUrl: string, path: string, options: { service?: string; after?: number; extra?: Record<string, string>; signal: AbortSignal }): Promise<HttpAnswer | undefined> {
    const query = new URLSearchParams({ format: 'ndjson', ...options.extra });
    if (options.service !== undefined) query.set('service', options.service);
    if (options.after !== undefined) query.set('after', String(options.after));
    let response;
    try {
      response = await this.#agents.call(`${baseUrl}${path}?${query.toString()}`, {
        method: 'GET', headers: this.#authorization(), idleTimeoutMs: 0, signal: options.signal,
      });
    } catch (err) {
      if (options.signal.aborted) return undefined;
      throw this.#unreachable(baseUrl, err);
    }
    if (response.statusCode >= 400) {
      const text = await readText(response.body);
      let parsed: unknown;
      try { parsed = JSON.parse(text); } catch { parsed = undefined; }
      throw remoteError(response.statusCode, parsed);
    }
    return response;
  }

  async #readWatch<E>(response: HttpAnswer, signal: AbortSignal, onEvent: (event: E) => void, touch: () => void): Promise<void> {
    const lines = createInterface({ input: response.body, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        touch();
        if (line.trim() === '') continue;
        const parsed = JSON.parse(line) as E | { error?: unknown };
        if (typeof parsed === 'object' && parsed !== null && 'error' in parsed && parsed.error !== undefined) {
          throw remoteError(0, parsed, 'watch ended');
        }
        onEvent(parsed as E);
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
  }
}
