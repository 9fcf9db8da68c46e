import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, TrellisError, type ErrorCode } from '../../../src/errors.js';
import { classify } from '../../../src/proxy/classify.js';
import { failureResponse } from '../../../src/proxy/rescue.js';
import type { ProxyFailure } from '../../../src/proxy/types.js';
import { endpoint, target } from './fixtures.js';

interface Body {
  error: { code: string; message: string; service: string; direction: string; endpoint?: { id: string; address: string } };
}

function answer(code: ErrorCode, message: string, extra: Partial<ProxyFailure> = {}) {
  const failure: ProxyFailure = { error: new TrellisError(code, message), reachedApp: false, endpoint: undefined, ...extra };
  const result = failureResponse(failure, target());
  return { ...result, parsed: JSON.parse(result.body) as Body };
}

/** Every answer the proxy makes itself: status, and words the message must contain to be actionable. */
const cases: ReadonlyArray<[ErrorCode, number, string, RegExp]> = [
  [ErrorCodes.NO_ROUTE, 404, 'no route to payments: this sidecar has no upstream of that name', /declare it among this sidecar's upstreams/],
  [ErrorCodes.NO_HEALTHY_ENDPOINT, 503, 'no healthy instance of payments: 3 registered, 2 critical, 1 ejected by outlier detection', /trellis instances payments/],
  [ErrorCodes.CIRCUIT_OPEN, 503, 'payments is at its concurrency limit: 1024 requests in flight', /raise its circuitBreaker.maxConcurrent/],
  [ErrorCodes.UPSTREAM_TIMEOUT, 504, 'payments did not answer within its timeout of 15s', /raise its timeout/],
  [ErrorCodes.UPSTREAM_CONNECT, 502, 'cannot connect to payments instance payments-2 (10.0.0.1:8080): connect ECONNREFUSED', /trellis instances payments/],
  [ErrorCodes.UPSTREAM_RESET, 502, 'payments instance payments-2 closed the connection before answering', /check its logs/],
  [ErrorCodes.APP_UNAVAILABLE, 503, 'the local app of payments refused the connection', /is running and listening/],
  [ErrorCodes.DRAINING, 503, 'this sidecar of payments is shutting down', /another instance will answer/],
  [ErrorCodes.BAD_REQUEST, 400, 'malformed request line', /could not read it as HTTP/],
  [ErrorCodes.HEADERS_TOO_LARGE, 431, 'request headers exceed 16 KiB', /smaller headers/],
  [ErrorCodes.REQUEST_TIMEOUT, 408, 'the request headers did not arrive within 10s', /too slowly/],
];

describe('rescue: the answers the proxy makes itself', () => {
  for (const [code, status, message, remedy] of cases) {
    it(`${code} → ${status}, trellis-error header and an explanation`, () => {
      const result = answer(code, message);
      assert.equal(result.status, status);
      assert.equal(result.headers['trellis-error'], code);
      assert.equal(result.headers['content-type'], 'application/json');
      assert.equal(result.parsed.error.code, code);
      assert.equal(result.parsed.error.service, 'payments');
      assert.equal(result.parsed.error.direction, 'outbound');
      assert.match(result.parsed.error.message, /\bpayments\b/, 'the message names the service');
      assert.ok(result.parsed.error.message.includes(message.replace(/^payments: /, '')), 'and keeps what happened');
      assert.match(result.parsed.error.message, remedy, 'and says what to do');
    });
  }

  it('names the service when the failure’s own message does not', () => {
    const { parsed } = answer(ErrorCodes.BAD_REQUEST, 'malformed request line.');
    assert.match(parsed.error.message, /^payments: malformed request line — /);
    // A service name inside another word does not count.
    const other = failureResponse({ error: new TrellisError(ErrorCodes.UPSTREAM_RESET, 'apayments-v2 closed'), reachedApp: true, endpoint: undefined }, target({}, 'payments'));
    assert.match((JSON.parse(other.body) as Body).error.message, /^payments: apayments-v2 closed/);
  });

  it('says which instance, when one was involved', () => {
    const { parsed } = answer(ErrorCodes.UPSTREAM_CONNECT, 'cannot connect', { endpoint: { ...endpoint('a'), id: 'payments-2', address: '::1', port: 8080 } });
    assert.deepEqual(parsed.error.endpoint, { id: 'payments-2', address: '[::1]:8080' });
    assert.equal(answer(ErrorCodes.NO_HEALTHY_ENDPOINT, 'none').parsed.error.endpoint, undefined);
  });

  it('adds Retry-After where waiting helps: circuit open, or what the upstream asked for', () => {
    assert.equal(answer(ErrorCodes.CIRCUIT_OPEN, 'full').headers['retry-after'], '1');
    assert.equal(answer(ErrorCodes.UPSTREAM_CONNECT, 'refused').headers['retry-after'], undefined);
    assert.equal(answer(ErrorCodes.UPSTREAM_RESET, 'reset', { retryAfterSeconds: 2.5 }).headers['retry-after'], '3');
  });

  it('answers any other code with its own status rather than a bare 500', () => {
    const result = answer(ErrorCodes.BODY_TOO_LARGE, 'the request body is larger than 65536 bytes and was partly sent already');
    assert.equal(result.status, 413);
    assert.equal(result.headers['trellis-error'], ErrorCodes.BODY_TOO_LARGE);
    assert.match(result.parsed.error.message, /^payments: the request body is larger/);
  });

  it('reports inbound answers as such', () => {
    const inbound = { ...target(), direction: 'inbound' as const };
    const result = failureResponse({ error: new TrellisError(ErrorCodes.APP_UNAVAILABLE, 'refused'), reachedApp: false, endpoint: undefined }, inbound);
    assert.equal((JSON.parse(result.body) as Body).error.direction, 'inbound');
  });
});

describe('classify', () => {
  it('is one verdict: 5xx is a failure, everything else a success', () => {
    assert.deepEqual([100, 200, 204, 301, 400, 404, 429, 499].map((s) => classify(s)), Array(8).fill('success'));
    assert.deepEqual([500, 502, 503, 504, 599].map((s) => classify(s)), Array(5).fill('failure'));
  });

  it('reads a trailers-only gRPC answer: server-side codes fail, the app\'s own answers succeed', () => {
    // UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS: what a 5xx would be.
    assert.deepEqual(['2', '4', '13', '14', '15'].map((g) => classify(200, g)), Array(5).fill('failure'));
    // OK, CANCELLED, INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED; none given.
    assert.deepEqual(['0', '1', '3', '5', '7', '16', undefined].map((g) => classify(200, g)), Array(7).fill('success'));
  });
});
