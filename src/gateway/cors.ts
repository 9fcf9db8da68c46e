/**
 * CORS at the gateway (the Fetch standard's CORS protocol): a preflight (OPTIONS with
 * Origin and Access-Control-Request-Method) is answered here and never reaches a service;
 * an allowed origin's actual requests get Access-Control-Allow-Origin (and -Credentials,
 * -Expose-Headers) on the response. A request from an origin not allowed goes on without
 * CORS headers: the browser blocks it, other clients are unaffected.
 */
import type { CorsConfig } from './config.js';

export class CorsPolicy {
  readonly #config: CorsConfig;
  readonly #any: boolean;

  constructor(config: CorsConfig) {
    this.#config = config;
    this.#any = config.allowOrigins.includes('*');
  }

  #allowed(origin: string): boolean {
    return this.#any || this.#config.allowOrigins.includes(origin);
  }

  /** `*` only when any origin is allowed without credentials; else the origin itself (and Vary: Origin). */
  #originHeaders(origin: string): Record<string, string> {
    const { allowCredentials } = this.#config;
    return {
      'access-control-allow-origin': this.#any && !allowCredentials ? '*' : origin,
      ...(this.#any && !allowCredentials ? {} : { vary: 'Origin' }),
      ...(allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
    };
  }

  /** Whether a request is a preflight. */
  static isPreflight(method: string, headers: Readonly<Record<string, string | string[]>>): boolean {
    return method === 'OPTIONS' && typeof headers['origin'] === 'string' && typeof headers['access-control-request-method'] === 'string';
  }

  /** The answer to a preflight: 204 with the allowances, or 403 when the origin, method or a header is not allowed. */
  preflight(headers: Readonly<Record<string, string | string[]>>): { status: number; headers: Record<string, string> } {
    const origin = String(headers['origin']);
    const method = String(headers['access-control-request-method']).toUpperCase();
    const requested = String(headers['access-control-request-headers'] ?? '').split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
    const { allowMethods, allowHeaders, maxAge } = this.#config;
    const simple = new Set(['accept', 'accept-language', 'content-language', 'content-type']);
    const refused = !this.#allowed(origin) || !allowMethods.includes(method) || requested.some((h) => !simple.has(h) && !allowHeaders.includes(h));
    if (refused) return { status: 403, headers: { vary: 'Origin' } };
    return {
      status: 204,
      headers: {
        ...this.#originHeaders(origin),
        'access-control-allow-methods': allowMethods.join(', '),
        ...(allowHeaders.length === 0 ? {} : { 'access-control-allow-headers': allowHeaders.join(', ') }),
        'access-control-max-age': String(Math.floor(maxAge / 1000)),
      },
    };
  }

  /** Headers to add to the response of an actual request from `origin` (none when it is not allowed). */
  responseHeaders(origin: string | undefined): Record<string, string> {
    if (origin === undefined || !this.#allowed(origin)) return {};
    const { exposeHeaders } = this.#config;
    return { ...this.#originHeaders(origin), ...(exposeHeaders.length === 0 ? {} : { 'access-control-expose-headers': exposeHeaders.join(', ') }) };
  }
}
