/**
 * One HTTP exchange with the control plane on node:http / node:https, with kept-alive
 * connections: what the API client (./control-plane.ts) needs, without loading undici into
 * every sidecar (a dispatcher, its wasm parser: ≈ 4.5 MB of RSS that a sidecar never used
 * for anything else; the data path has its own llhttp carrier).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

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

/** Connections to a control plane: kept alive, like undici's default dispatcher was. */
export class HttpClientAgents {
  readonly #http = new HttpAgent({ keepAlive: true });
  readonly #https: HttpsAgent;

  /** `ca`: trusted for https:// (absent: the system's roots). */
  constructor(ca?: string) {
    this.#https = new HttpsAgent({ keepAlive: true, minVersion: 'TLSv1.2', ...(ca === undefined ? {} : { ca }) });
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
