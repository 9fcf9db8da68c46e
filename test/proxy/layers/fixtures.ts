/**
 * Fixtures for testing layers in isolation: targets with a policy, requests, outcomes,
 * and fake inner handlers (a "cluster" that picks like the balance layer does, skipping
 * `request.tried`, and answers as told). Time is driven with node:test's mock timers.
 */
import { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import type { Endpoint } from '../../../src/balancer/types.js';
import { ErrorCodes, TrellisError, type ErrorCode } from '../../../src/errors.js';
import { classify } from '../../../src/proxy/classify.js';
import { parseUpstreamPolicy } from '../../../src/proxy/policy.js';
import type { Handler, Outcome, ProxyRequest, Target } from '../../../src/proxy/types.js';

export function endpoint(id: string): Endpoint {
  return { id, address: '10.0.0.1', port: 8000 + id.charCodeAt(0), weight: 1, metadata: {} };
}

export function target(policy: unknown = {}, service = 'payments'): Target {
  return { direction: 'outbound', service, policy: parseUpstreamPolicy(policy, 'policy') };
}

export interface RequestSpec {
  readonly method?: string;
  readonly target?: Target;
  readonly signal?: AbortSignal;
  readonly startedAt?: number;
  readonly replayable?: boolean;
}

export function request(spec: RequestSpec = {}): ProxyRequest {
  return {
    id: 'req-1',
    method: spec.method ?? 'GET',
    path: '/',
    headers: {},
    body: { open: () => null, replayable: spec.replayable ?? true },
    target: spec.target ?? target(),
    signal: spec.signal ?? new AbortController().signal,
    startedAt: spec.startedAt ?? Date.now(),
    tried: new Set(),
  };
}

/** A response outcome; the body is a stream of `text` with a matching content-length. */
export function response(status: number, from: Endpoint | undefined, headers: Record<string, string> = {}, text = 'body'): Outcome {
  return {
    ok: true,
    classification: classify(status),
    response: { status, headers: { 'content-length': String(text.length), ...headers }, body: Readable.from([Buffer.from(text)]), endpoint: from },
  };
}

export function failure(code: ErrorCode, from: Endpoint | undefined, reachedApp: boolean, message = 'it failed'): Outcome {
  return { ok: false, failure: { error: new TrellisError(code, message), reachedApp, endpoint: from } };
}

/** What an upstream answers once the request's signal aborted: the reason when it is ours, else a cancellation. */
export function aborted(signal: ProxyRequest['signal'], from: Endpoint | undefined, reachedApp = true): Outcome {
  const error = signal.reason instanceof TrellisError ? signal.reason : new TrellisError(ErrorCodes.UPSTREAM_RESET, 'cancelled');
  return { ok: false, failure: { error, reachedApp, endpoint: from } };
}

/** An attempt that never answers until its signal aborts. */
export function hangUntilAborted(request: ProxyRequest, from: Endpoint | undefined, reachedApp = true): Promise<Outcome> {
  return new Promise((resolve) => {
    if (request.signal.aborted) resolve(aborted(request.signal, from, reachedApp));
    request.signal.addEventListener('abort', () => resolve(aborted(request.signal, from, reachedApp)), { once: true });
  });
}

export interface Cluster {
  readonly handler: Handler;
  /** Endpoint ids in the order attempts went to them. */
  readonly calls: string[];
  /** The requests each attempt saw. */
  readonly requests: ProxyRequest[];
}

/**
 * A fake balance + upstream: picks the first endpoint not in `request.tried` (NO_HEALTHY_ENDPOINT
 * when none is left) and lets `answer` decide the outcome. It does not add to `tried`: the retry layer must.
 */
export function cluster(ids: readonly string[], answer: (endpoint: Endpoint, request: ProxyRequest, attempt: number) => Outcome | Promise<Outcome>): Cluster {
  const calls: string[] = [];
  const requests: ProxyRequest[] = [];
  const handler: Handler = async (req) => {
    const id = ids.find((candidate) => !req.tried.has(candidate));
    if (id === undefined) return failure(ErrorCodes.NO_HEALTHY_ENDPOINT, undefined, false, 'every instance was tried');
    calls.push(id);
    requests.push(req);
    return answer(endpoint(id), req, calls.length);
  };
  return { handler, calls, requests };
}

/** Let every queued promise callback run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Mock setTimeout and Date, starting at `now`: layers are given `now: Date.now`. */
export function mockTime(t: TestContext, now = 1_000_000): void {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now });
}

/** Move mocked time forward in steps, letting promise chains run between steps. */
export async function advance(t: TestContext, ms: number, step = 1): Promise<void> {
  await flush();
  for (let passed = 0; passed < ms; passed += step) {
    t.mock.timers.tick(Math.min(step, ms - passed));
    await flush();
  }
}

/** Whether a promise has settled yet (after letting callbacks run). */
export async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => { done = true; }, () => { done = true; });
  await flush();
  return done;
}

/** Reads a stream to the end as text. */
export async function text(body: Readable | null): Promise<string> {
  if (body === null) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString();
}
