/**
 * The in-process carrier of the data path: an undici Dispatcher whose dispatch() runs the
 * sidecar's own outbound pipeline (timeout → retry budget → circuit breaker → outlier
 * detection → balancer → the raw HTTP/1.1 upstream pool, mTLS when on) and hands its Outcome
 * to undici's handler: the response head, the body with backpressure, the trailers; a failure
 * the proxy would answer with a `trellis-error` code is an error with that code
 * (TrellisError: NO_HEALTHY_ENDPOINT, UPSTREAM_CONNECT, CIRCUIT_OPEN, …).
 */
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { Dispatcher } from 'undici';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import { Cancellation } from '../proxy/cancel.js';
import type { Handler, ProxyResponse, Target } from '../proxy/types.js';
import { headerRecord, requestBody, requestId, serviceOf } from './request.js';

export interface MeshRoutes {
  /** The target in force for `service`; undefined when the client does not call it. */
  target(service: string): Target | undefined;
  /** The pipeline serving `service`. */
  handler(service: string): Handler | undefined;
  /** The services the client calls, for messages. */
  readonly services: readonly string[];
}

type DispatchHandler = Dispatcher.DispatchHandlers;

function rawHeaders(headers: ProxyResponse['headers']): Buffer[] {
  const out: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    for (const one of Array.isArray(value) ? value : [value]) out.push(Buffer.from(name), Buffer.from(one));
  }
  return out;
}

export class MeshDispatcher extends Dispatcher {
  readonly #routes: MeshRoutes;
  readonly #replayBytes: number;
  #closed = false;

  constructor(routes: MeshRoutes, replayBytes: number) {
    super();
    this.#routes = routes;
    this.#replayBytes = replayBytes;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: DispatchHandler): boolean {
    void this.#run(options, handler).catch((err: unknown) => handler.onError?.(err instanceof Error ? err : new Error(messageOf(err))));
    return true;
  }

  async #run(options: Dispatcher.DispatchOptions, handler: DispatchHandler): Promise<void> {
    if (this.#closed) throw new TrellisError(ErrorCodes.DRAINING, 'the mesh client is closed');
    const service = serviceOf(options.origin);
    const target = this.#routes.target(service);
    const pipeline = this.#routes.handler(service);
    if (target === undefined || pipeline === undefined) {
      throw new TrellisError(ErrorCodes.NO_ROUTE, `${JSON.stringify(service)} is not an upstream of this mesh client (it calls ${this.#routes.services.join(', ') || 'nothing'}): add it to upstreams`);
    }
    const cancel = new Cancellation();
    handler.onConnect?.((reason?: Error) => cancel.abort(reason ?? new Error('the request was aborted')));
    if (cancel.aborted) return;
    const headers = headerRecord(options.headers);
    const outcome = await pipeline({
      id: requestId(headers),
      method: options.method,
      path: options.path,
      headers: { ...headers, host: service },
      body: requestBody(options.body, this.#replayBytes),
      target,
      signal: cancel,
      startedAt: performance.now(),
      tried: new Set(),
    });
    if (!outcome.ok) throw outcome.failure.error;
    const { response } = outcome;
    let body: Readable | null = null;
    const resume = (): void => { body?.resume(); };
    const wanted = handler.onHeaders?.(response.status, rawHeaders(response.headers), resume, '') ?? true;
    const whole = response.wholeBody?.();
    if (whole !== undefined || response.body === null) {
      for (const chunk of whole ?? []) handler.onData?.(chunk);
      handler.onComplete?.(trailersOf(response));
      return;
    }
    body = response.body;
    const stream = body;
    if (!wanted) stream.pause();
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { stream.destroy(cancel.reason instanceof Error ? cancel.reason : undefined); };
      cancel.addEventListener('abort', onAbort);
      stream.on('data', (chunk: Buffer) => { if (handler.onData?.(chunk) === false) stream.pause(); });
      stream.once('end', () => { cancel.removeEventListener('abort', onAbort); handler.onComplete?.(trailersOf(response)); resolve(); });
      stream.once('error', (err) => { cancel.removeEventListener('abort', onAbort); reject(err); });
    });
  }

  override async close(): Promise<void> {
    this.#closed = true;
  }

  override async destroy(): Promise<void> {
    this.#closed = true;
  }
}

function trailersOf(response: ProxyResponse): string[] {
  const trailers = response.trailers?.();
  if (trailers === undefined) return [];
  return Object.entries(trailers).flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).flatMap((one) => [name, one]));
}
