/** The HTTP/1 edge: request targets (origin- and absolute-form), hosts, and header rewriting. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestHead, responseHeaders } from '../../src/proxy/http1/headers.js';
import { hostOf, parseRequestTarget } from '../../src/proxy/http1/target-uri.js';

describe('request targets', () => {
  it('reads origin-form and absolute-form targets', () => {
    assert.deepEqual(parseRequestTarget('/x?y=1'), { authority: undefined, path: '/x?y=1' });
    assert.deepEqual(parseRequestTarget('http://payments/x?y=1'), { authority: 'payments', path: '/x?y=1' });
    assert.deepEqual(parseRequestTarget('http://payments:8080'), { authority: 'payments:8080', path: '/' });
    assert.deepEqual(parseRequestTarget('HTTP://user:pw@payments?q'), { authority: 'payments', path: '/?q' });
    assert.equal(parseRequestTarget('https://payments/x'), undefined);
    assert.equal(parseRequestTarget('*'), undefined);
    assert.equal(parseRequestTarget('http:///x'), undefined);
  });

  it('takes the host without port, lower-cased', () => {
    assert.equal(hostOf('Payments:8080'), 'payments');
    assert.equal(hostOf('payments'), 'payments');
    assert.equal(hostOf('[::1]:80'), '::1');
  });
});

describe('header rewriting', () => {
  it('drops hop-by-hop headers, including those named in Connection, and sets forwarding headers', () => {
    const head = requestHead([
      'Host', 'payments', 'Connection', 'keep-alive, X-Secret', 'Keep-Alive', 'timeout=5', 'X-Secret', 's',
      'Transfer-Encoding', 'chunked', 'TE', 'trailers', 'Upgrade', 'websocket', 'Expect', '100-continue',
      'Accept', 'a', 'accept', 'b', 'X-Forwarded-For', '10.0.0.1',
    ], '127.0.0.1');
    assert.deepEqual({ ...head.headers, 'x-request-id': 'id' }, {
      host: 'payments', accept: ['a', 'b'], 'x-forwarded-for': '10.0.0.1, 127.0.0.1', 'x-request-id': 'id',
    });
    assert.equal(head.hasBody, true, 'a chunked request has a body');
    assert.equal(head.host, 'payments');
    assert.match(head.requestId, /^[0-9a-f-]{36}$/);
  });

  it('keeps the client request id and sees no body without Content-Length or Transfer-Encoding', () => {
    const head = requestHead(['X-Request-Id', 'abc', 'Content-Length', '0'], undefined);
    assert.equal(head.requestId, 'abc');
    assert.equal(head.hasBody, false);
    assert.equal(head.headers['x-forwarded-for'], undefined);
    assert.equal(requestHead(['Content-Length', '12'], undefined).hasBody, true);
  });

  it('drops hop-by-hop response headers and keeps repeated ones', () => {
    const raw = ['Connection', 'keep-alive', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Transfer-Encoding', 'chunked', 'Content-Type', 'text/plain']
      .map((s) => Buffer.from(s, 'latin1'));
    assert.deepEqual({ ...responseHeaders(raw) }, { 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' });
  });
});

describe('header names that are also object properties', () => {
  it('forwards a `constructor` header and drops `__proto__`', () => {
    const head = requestHead(['Constructor', 'a', 'constructor', 'c', '__proto__', 'x'], undefined);
    assert.deepEqual(head.headers['constructor'], ['a', 'c']);
    assert.equal(Object.getPrototypeOf(head.headers), Object.prototype);
  });
});
