/**
 * The verdict table (src/proxy/classify.ts): status × method × reachedApp × failure code →
 * class, blame, retryable — and that retry, outlier detection and metrics read that one verdict.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, TrellisError, type ErrorCode } from '../../../src/errors.js';
import { classificationOf, judge, verdictOf, vouchForPeerAnswer, type Blame, type VerdictClass } from '../../../src/proxy/classify.js';
import { outlierResult } from '../../../src/proxy/layers/outlier.js';
import { endpoint, failure, request, response, target } from './fixtures.js';

const RETRY_ON = [502, 503, 504];

type Row = readonly [what: string, VerdictClass, Blame, boolean];

function responseRow(status: number, method: string, hasEndpoint = true, classification: 'success' | 'failure' = status >= 500 ? 'failure' : 'success'): Row {
  const v = judge({ method, status, classification, hasEndpoint, clientGone: false, retryOnStatus: RETRY_ON });
  return [`${method} ${status}${hasEndpoint ? '' : ' (no endpoint)'}${classification === 'failure' && status < 500 ? ' grpc failure' : ''}`, v.class, v.blame, v.retryable];
}

function failureRow(code: ErrorCode, method: string, reachedApp: boolean, hasEndpoint = true, clientGone = false): Row {
  const v = judge({ method, code, reachedApp, hasEndpoint, clientGone, retryOnStatus: RETRY_ON });
  return [`${method} ${code.replace('TRELLIS_ERR_', '')} reached=${reachedApp}${hasEndpoint ? '' : ' (no endpoint)'}${clientGone ? ' client gone' : ''}`, v.class, v.blame, v.retryable];
}

describe('the verdict table', () => {
  it('responses: status × method', () => {
    assert.deepEqual([
      responseRow(200, 'GET'),
      responseRow(101, 'GET'),
      responseRow(304, 'POST'),
      responseRow(404, 'GET'),
      responseRow(429, 'GET'),
      responseRow(500, 'GET'),
      responseRow(502, 'GET'),
      responseRow(503, 'GET'),
      responseRow(503, 'PUT'),
      responseRow(503, 'delete'),
      responseRow(503, 'POST'),
      responseRow(503, 'PATCH'),
      responseRow(504, 'HEAD'),
      responseRow(503, 'GET', false),
      responseRow(200, 'GET', true, 'failure'),
    ], [
      ['GET 200', 'success', 'none', false],
      ['GET 101', 'success', 'none', false],
      ['POST 304', 'success', 'none', false],
      ['GET 404', 'client-error', 'client', false],
      ['GET 429', 'client-error', 'client', false],
      ['GET 500', 'server-error', 'endpoint', false],
      ['GET 502', 'server-error', 'endpoint', true],
      ['GET 503', 'server-error', 'endpoint', true],
      ['PUT 503', 'server-error', 'endpoint', true],
      ['delete 503', 'server-error', 'endpoint', true],
      ['POST 503', 'server-error', 'endpoint', false],
      ['PATCH 503', 'server-error', 'endpoint', false],
      ['HEAD 504', 'server-error', 'endpoint', true],
      ['GET 503 (no endpoint)', 'server-error', 'proxy', false],
      ['GET 200 grpc failure', 'server-error', 'endpoint', false],
    ]);
  });

  it('a status listed in retryOnStatus is retried for idempotent methods only, whatever its class', () => {
    const v = judge({ method: 'GET', status: 429, classification: 'success', hasEndpoint: true, clientGone: false, retryOnStatus: [429] });
    assert.deepEqual(v, { class: 'client-error', blame: 'client', retryable: true });
    assert.equal(judge({ method: 'POST', status: 429, classification: 'success', hasEndpoint: true, clientGone: false, retryOnStatus: [429] }).retryable, false);
  });

  it('failures: code × method × reachedApp', () => {
    assert.deepEqual([
      failureRow(ErrorCodes.UPSTREAM_CONNECT, 'POST', false),
      failureRow(ErrorCodes.UPSTREAM_CONNECT, 'CONNECT', false),
      failureRow(ErrorCodes.APP_UNAVAILABLE, 'GET', false),
      failureRow(ErrorCodes.UPSTREAM_RESET, 'GET', true),
      failureRow(ErrorCodes.UPSTREAM_RESET, 'POST', true),
      failureRow(ErrorCodes.UPSTREAM_RESET, 'POST', false),
      failureRow(ErrorCodes.UPSTREAM_TIMEOUT, 'GET', true),
      failureRow(ErrorCodes.UPSTREAM_TIMEOUT, 'POST', true),
      failureRow(ErrorCodes.UPSTREAM_TIMEOUT, 'GET', true, false),
      failureRow(ErrorCodes.UPSTREAM_TIMEOUT, 'GET', true, true, true),
      failureRow(ErrorCodes.UPSTREAM_RESET, 'GET', true, true, true),
      failureRow(ErrorCodes.UPSTREAM_CONNECT, 'GET', false, true, true),
      failureRow(ErrorCodes.BAD_REQUEST, 'GET', false, false),
      failureRow(ErrorCodes.BODY_TOO_LARGE, 'GET', true),
      failureRow(ErrorCodes.HEADERS_TOO_LARGE, 'GET', false, false),
      failureRow(ErrorCodes.REQUEST_TIMEOUT, 'GET', false, false),
      failureRow(ErrorCodes.FORBIDDEN, 'GET', false, false),
      failureRow(ErrorCodes.POLICY_UNAVAILABLE, 'GET', false, false),
      failureRow(ErrorCodes.NO_ROUTE, 'GET', false, false),
      failureRow(ErrorCodes.NO_HEALTHY_ENDPOINT, 'GET', false, false),
      failureRow(ErrorCodes.CIRCUIT_OPEN, 'GET', false, false),
      failureRow(ErrorCodes.DRAINING, 'GET', false, false),
      failureRow(ErrorCodes.INTERNAL, 'GET', false, true),
    ], [
      ['POST UPSTREAM_CONNECT reached=false', 'connect-failure', 'endpoint', true],
      ['CONNECT UPSTREAM_CONNECT reached=false', 'connect-failure', 'endpoint', true],
      ['GET APP_UNAVAILABLE reached=false', 'connect-failure', 'endpoint', true],
      ['GET UPSTREAM_RESET reached=true', 'reset', 'endpoint', true],
      ['POST UPSTREAM_RESET reached=true', 'reset', 'endpoint', false],
      ['POST UPSTREAM_RESET reached=false', 'reset', 'endpoint', true],
      ['GET UPSTREAM_TIMEOUT reached=true', 'timeout', 'endpoint', true],
      ['POST UPSTREAM_TIMEOUT reached=true', 'timeout', 'endpoint', false],
      ['GET UPSTREAM_TIMEOUT reached=true (no endpoint)', 'timeout', 'proxy', false],
      ['GET UPSTREAM_TIMEOUT reached=true client gone', 'timeout', 'endpoint', true],
      ['GET UPSTREAM_RESET reached=true client gone', 'cancelled', 'client', false],
      ['GET UPSTREAM_CONNECT reached=false client gone', 'cancelled', 'client', false],
      ['GET BAD_REQUEST reached=false (no endpoint)', 'invalid', 'client', false],
      ['GET BODY_TOO_LARGE reached=true', 'invalid', 'client', false],
      ['GET HEADERS_TOO_LARGE reached=false (no endpoint)', 'invalid', 'client', false],
      ['GET REQUEST_TIMEOUT reached=false (no endpoint)', 'invalid', 'client', false],
      ['GET FORBIDDEN reached=false (no endpoint)', 'denied', 'proxy', false],
      ['GET POLICY_UNAVAILABLE reached=false (no endpoint)', 'denied', 'proxy', false],
      ['GET NO_ROUTE reached=false (no endpoint)', 'denied', 'proxy', false],
      ['GET NO_HEALTHY_ENDPOINT reached=false (no endpoint)', 'denied', 'proxy', false],
      ['GET CIRCUIT_OPEN reached=false (no endpoint)', 'denied', 'proxy', false],
      ['GET DRAINING reached=false (no endpoint)', 'denied', 'proxy', false],
      ['GET INTERNAL reached=false', 'error', 'proxy', false],
    ]);
  });

  it('the connect failures of endpoints with no endpoint named are not retried (nothing to try elsewhere)', () => {
    assert.deepEqual(judge({ method: 'GET', code: ErrorCodes.UPSTREAM_CONNECT, reachedApp: false, hasEndpoint: false, clientGone: false, retryOnStatus: RETRY_ON }),
      { class: 'connect-failure', blame: 'proxy', retryable: false });
  });
});

describe('one verdict, read by everyone', () => {
  it('is computed once per outcome and request: a later abort of the client does not change it', () => {
    const client = new AbortController();
    const req = request({ target: target() });
    const reset = failure(ErrorCodes.UPSTREAM_RESET, endpoint('a'), true);
    const first = verdictOf(req, reset);
    assert.deepEqual(first, { class: 'reset', blame: 'endpoint', retryable: true });
    // The same outcome read later, by a copy of the request (a deadline's) whose signal aborted: the same verdict.
    client.abort();
    assert.equal(verdictOf({ ...req, signal: client.signal }, reset), first);
    // Another request (its own `tried`) with an aborted signal gets its own.
    assert.equal(verdictOf(request({ signal: client.signal }), reset).class, 'cancelled');
  });

  it('reads the request: the same 503 is retryable for a GET, not for a POST', () => {
    const answer = response(503, endpoint('a'));
    assert.equal(verdictOf(request({ method: 'GET' }), answer).retryable, true);
    assert.equal(verdictOf(request({ method: 'POST' }), answer).retryable, false);
  });

  it("an authenticated peer sidecar's 503 APP_UNAVAILABLE (its app refused the connection) never reached the app: a connect failure, retryable for a POST too", () => {
    const refused = response(503, endpoint('a'), { 'trellis-error': ErrorCodes.APP_UNAVAILABLE });
    const unvouched = verdictOf(request({ method: 'POST' }), refused);
    assert.deepEqual(unvouched, { class: 'server-error', blame: 'endpoint', retryable: false }, 'not vouched for (no mTLS): an ordinary 503, a POST not sent again');
    if (!refused.ok) throw new Error('a response was expected');
    vouchForPeerAnswer(refused.response);
    const post = verdictOf(request({ method: 'POST' }), refused);
    assert.deepEqual(post, { class: 'connect-failure', blame: 'endpoint', retryable: true }, 'vouched for: the peer\'s code is believed');
    assert.equal(outlierResult(post), 'connect-failure');
    // Any other 503 of the app (or of the peer) is not retried for a POST.
    assert.equal(verdictOf(request({ method: 'POST' }), response(503, endpoint('a'), { 'trellis-error': ErrorCodes.CIRCUIT_OPEN })).retryable, false);
    // The local app's own answers (inbound) are not read for it.
    assert.equal(verdictOf(request({ method: 'POST', target: { ...target(), direction: 'inbound' } }), refused).retryable, false);
  });

  it('maps to the metrics classification and to what outlier detection counts', () => {
    const rows = [
      [response(200, endpoint('a')), 'success', 'success'],
      [response(404, endpoint('a')), 'success', 'success'],
      [response(503, endpoint('a')), 'failure', 'http-5xx'],
      [failure(ErrorCodes.UPSTREAM_CONNECT, endpoint('a'), false), 'failure', 'connect-failure'],
      [failure(ErrorCodes.UPSTREAM_RESET, endpoint('a'), true), 'failure', 'reset'],
      [{ ok: false, failure: { error: new TrellisError(ErrorCodes.UPSTREAM_TIMEOUT, 'per-try', { details: { scope: 'try', timeoutMs: 100 } }), reachedApp: true, endpoint: endpoint('a') } }, 'failure', 'timeout'],
      [failure(ErrorCodes.BODY_TOO_LARGE, endpoint('a'), true), 'failure', undefined],
      [failure(ErrorCodes.NO_HEALTHY_ENDPOINT, undefined, false), 'failure', undefined],
    ] as const;
    for (const [outcome, classification, counted] of rows) {
      const v = verdictOf(request(), outcome);
      assert.equal(classificationOf(v), classification, `${v.class}: metrics`);
      assert.equal(outlierResult(v), counted, `${v.class}: outlier detection`);
    }
  });
});
