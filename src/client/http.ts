/**
 * One HTTP exchange with the control plane on node:http / node:https, with kept-alive
 * connections: what the API client (./control-plane.ts) needs, without loading undici into
 * every sidecar (a dispatcher, its wasm parser: ≈ 4.5 MB of RSS that a sidecar never used
 * for anything else; the data path has its own llhttp carrier).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';

export interface HttpCallOptions {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** No byte for this long (waiting for the head, or within the body) fails the call; 0: none. */
  readonly idleTimeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface HttpAnswer {
  readonly statusCode: number;
  /** The body, to read as a stream (a watch) or whole with {@link readText}. */
  readonly body: IncomingMessage;
}

/** An upgrade's outcome: the switched connection (and bytes already read past the head), or the answer refusing it. */
export type UpgradeAnswer = { readonly socket: Duplex; readonly head: Buffer } | { readonly refused: HttpAnswer };

/** Connections to a control plane: kept alive, like undici's default dispatcher was. */
export class HttpClientAgents {
  readonly #http = new HttpAgent({ keepAlive: true });
  readonly #https: HttpsAgent;
  readonly #ca: string | undefined;

  /** `ca`: trusted for https:// (absent: the system's roots). */
  constructor(ca?: string) {
    this.#ca = ca;
    this.#https = new HttpsAgent({ keepAlive: true, minVersion: 'TLSv1.2', ...(ca === undefined ? {} : { ca }) });
  }

  /**
   * A GET asking to switch to `protocol`, on a connection of its own (an upgraded connection
   * never returns to a pool). Fails when no head arrives within `timeoutMs`.
   */
  upgrade(url: string, protocol: string, headers: Readonly<Record<string, string>>, timeoutMs: number): Promise<UpgradeAnswer> {
    const secure = url.startsWith('https:');
    return new Promise<UpgradeAnswer>((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(url, {
        method: 'GET',
        headers: { ...headers, connection: 'Upgrade', upgrade: protocol },
        agent: false,
        ...(secure ? { minVersion: 'TLSv1.2' as const, ...(this.#ca === undefined ? {} : { ca: this.#ca }) } : {}),
      });
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.once('error', reject);
      req.once('upgrade', (_res, socket, head) => {
        req.setTimeout(0);
        req.off('error', reject);
        resolve({ socket, head });
      });
      req.once('response', (res) => {
        req.off('error', reject);
        req.on('error', () => undefined);
        resolve({ refused: { statusCode: res.statusCode ?? 0, body: res } });
      });
      req.end();
    });
  }

  call(url: string, options: HttpCallOptions): Promise<HttpAnswer> {
    const secure = url.startsWith('https:');
    return new Promise<HttpAnswer>((resolve, reject) => {
      const headers: Record<string, string> = { ...options.headers };
      if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
      const req = (secure ? httpsRequest : httpRequest)(url, {
        method: options.method,
        headers,
        agent: secure ? this.#https : this.#http,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      if (options.idleTimeoutMs > 0) {
        req.setTimeout(options.idleTimeoutMs, () => {
          req.destroy(Object.assign(new Error(`no answer within ${options.idleTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
        });
      }
      req.once('error', reject);
      req.once('response', (res) => {
        // Past the head, a broken body is the reader's error (text() or the stream), not this promise's.
        req.off('error', reject);
        req.on('error', () => undefined);
        resolve({ statusCode: res.statusCode ?? 0, body: res });
      });
      req.end(options.body);
    });
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}

/** The whole body as UTF-8 text. */
export async function readText(body: IncomingMessage): Promise<string> {
  body.setEncoding('utf8');
  let text = '';
  for await (const chunk of body) text += chunk as string;
  return text;
}
