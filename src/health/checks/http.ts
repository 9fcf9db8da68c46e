/**
 * HTTP checks: `GET`/`HEAD` the instance's health path with undici (loaded with the first probe).
 *
 * 2xx is passing, 429 Too Many Requests is warning, anything else — and any connect
 * error, TLS error or timeout — is critical. Redirects are followed (up to
 * {@link MAX_REDIRECTIONS}), as Consul's HTTP checks do by default: the verdict is the
 * final response's status, and a chain longer than that reports the last 3xx, which is
 * critical. The output keeps at most the first 4 KiB of the body and the rest is never
 * read (Consul instead reads the whole body and keeps its last 4 KiB).
 */
import { STATUS_CODES } from 'node:http';
import type { Agent as UndiciAgent, Dispatcher } from 'undici';
import type { HealthStatus } from '../../core/health.js';
import type { Clock } from '../../core/clock.js';
import { formatHostPort, probePort, settleProbe, utf8Prefix, type ProbeOutcome } from './support.js';
import { MAX_OUTPUT_BYTES, type CheckTarget, type HttpCheckSpec, type Probe } from './types.js';

/** Go's http.Client default, which Consul's HTTP checks inherit. */
export const MAX_REDIRECTIONS = 10;

/** Sent with every probe, so instances can tell health checks apart in their logs. */
const REQUEST_HEADERS = {
  'user-agent': 'Trellis Health Check',
  accept: 'text/plain, text/*, */*',
} as const;

type Undici = Awaited<ReturnType<typeof loadUndici>>;
let sharedAgent: UndiciAgent | undefined;
let undici: Promise<Undici> | undefined;
const loadUndici = () => import('undici');

/**
 * One dispatcher for every HTTP probe. `pipelining: 0` turns keep-alive off: each probe
 * opens a fresh connection (so it really tests that the instance accepts connections)
 * and no idle sockets linger between probes. undici is loaded with the first HTTP probe:
 * a sidecar whose app has no HTTP check never loads it.
 */
async function probeClient(): Promise<{ request: Undici['request']; agent: UndiciAgent }> {
  const loaded = await (undici ??= loadUndici());
  sharedAgent ??= new loaded.Agent({ pipelining: 0, maxRedirections: MAX_REDIRECTIONS });
  return { request: loaded.request, agent: sharedAgent };
}

/** The health verdict for an HTTP response status code. */
export function statusForHttpCode(code: number): HealthStatus {
  if (code >= 200 && code < 300) return 'passing';
  if (code === 429) return 'warning';
  return 'critical';
}

/** The URL an HTTP check requests for a target, e.g. `http://[::1]:8080/healthz`. */
export function httpCheckUrl(spec: HttpCheckSpec, target: CheckTarget): string {
  const scheme = spec.tls === true ? 'https' : 'http';
  return `${scheme}://${formatHostPort(target.address, probePort(spec, target))}${spec.path}`;
}

/** Builds the probe for an HTTP check. */
export function httpProbe(spec: HttpCheckSpec, clock?: Clock): Probe {
  return (target, signal) => {
    const url = httpCheckUrl(spec, target);
    return settleProbe(`HTTP ${spec.method} ${url}`, signal, spec.timeoutMs, async (deadline): Promise<ProbeOutcome> => {
      const { request, agent } = await probeClient();
      const response = await request(url, {
        method: spec.method,
        headers: REQUEST_HEADERS,
        dispatcher: agent,
        signal: deadline,
      });
      const body = await readBodyPrefix(response.body, MAX_OUTPUT_BYTES);
      const { statusCode } = response;
      const reason = STATUS_CODES[statusCode];
      const statusLine = reason === undefined ? String(statusCode) : `${statusCode} ${reason}`;
      return { status: statusForHttpCode(statusCode), detail: `${statusLine} Output: ${body}` };
    }, clock);
  };
}

/**
 * Reads at most `maxBytes` of a response body and discards the rest by destroying the
 * stream (with keep-alive off, that just closes this probe's connection).
 */
async function readBodyPrefix(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= maxBytes) break;
    }
  } finally {
    if (!body.destroyed) body.destroy();
  }
  return utf8Prefix(Buffer.concat(chunks, length), maxBytes);
}
