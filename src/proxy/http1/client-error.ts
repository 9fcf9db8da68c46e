/**
 * What to answer when Node's HTTP parser rejects a client's bytes ('clientError'):
 * malformed requests → 400, over-long headers → 431, a client too slow to send its
 * request → 408. A connection the client already reset gets no answer.
 */
import { ErrorCodes, messageOf } from '../../errors.js';
import { formatDuration } from '../../util/duration.js';
import { proxyFailure } from '../failure.js';
import type { ProxyFailure } from '../types.js';

export interface ParserLimits {
  readonly maxHeaderSize: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

export function clientErrorFailure(err: Error & { code?: string; reason?: string }, limits: ParserLimits): ProxyFailure | undefined {
  const code = err.code ?? '';
  if (code === 'ECONNRESET' || code === 'EPIPE') return undefined;
  if (code === 'HPE_HEADER_OVERFLOW') {
    return proxyFailure(ErrorCodes.HEADERS_TOO_LARGE, `the request headers are larger than this proxy's limit of ${limits.maxHeaderSize} bytes (maxHeaderSize)`);
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    const requestPart = limits.requestTimeoutMs > 0 ? ` and the whole request within ${formatDuration(limits.requestTimeoutMs)}` : '';
    return proxyFailure(ErrorCodes.REQUEST_TIMEOUT, `the client must send the request headers within ${formatDuration(limits.headersTimeoutMs)}${requestPart}`);
  }
  return proxyFailure(ErrorCodes.BAD_REQUEST, `malformed HTTP/1.1 request: ${err.reason ?? messageOf(err)} (${code || 'parse error'})`);
}
