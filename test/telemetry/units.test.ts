/** The pure pieces of telemetry: W3C traceparent parsing, percentiles from buckets, the config fields. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseSidecarConfig } from '../../src/proxy/config.js';
import { formatAccessLine } from '../../src/proxy/layers/access-log.js';
import { quantile } from '../../src/telemetry/aggregate.js';
import { LATENCY_BUCKETS_MS } from '../../src/telemetry/snapshot.js';
import { formatTraceparent, nextHop, parseTraceparent } from '../../src/telemetry/trace-context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

it('reads valid traceparents and refuses the ones the spec says to restart', () => {
  assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-01`), { traceId: TRACE, parentId: SPAN, flags: '01' });
  assert.deepEqual(parseTraceparent(`01-${TRACE}-${SPAN}-00-future-stuff`), { traceId: TRACE, parentId: SPAN, flags: '00' });
  for (const bad of [`ff-${TRACE}-${SPAN}-01`, `00-${'0'.repeat(32)}-${SPAN}-01`, `00-${TRACE}-${'0'.repeat(16)}-01`, `00-${TRACE}-${SPAN}-01-extra`, `00-${TRACE.slice(1)}-${SPAN}-01`, 'garbage']) {
    assert.equal(parseTraceparent(bad), undefined, bad);
  }
  assert.equal(parseTraceparent([`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01`]), undefined, 'two traceparent headers: invalid');
  const hop = nextHop(`00-${TRACE}-${SPAN}-00`);
  assert.equal(hop.traceId, TRACE);
  assert.equal(hop.parentId, SPAN);
  assert.notEqual(hop.spanId, SPAN);
  assert.match(formatTraceparent(hop), new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
  const ids = new Set(Array.from({ length: 2000 }, () => nextHop(undefined).spanId));
  assert.equal(ids.size, 2000, 'span ids do not repeat');
});

it('interpolates percentiles within the histogram buckets', () => {
  const cumulative = (counts: Record<number, number>): number[] => {
    let sum = 0;
    const out = LATENCY_BUCKETS_MS.map((bound) => (sum += counts[bound] ?? 0));
    out.push(sum + (counts[Infinity] ?? 0));
    return out;
  };
  assert.equal(quantile(0.5, cumulative({})), null);
  // 100 observations, all in (5, 10]: p50 is half-way through that bucket.
  assert.equal(quantile(0.5, cumulative({ 10: 100 })), 7.5);
  // 90 at ≤ 1 ms, 10 in (100, 200]: p50 in the first bucket, p99 near the top of (100, 200].
  const mixed = cumulative({ 1: 90, 200: 10 });
  assert.ok((quantile(0.5, mixed) ?? 0) <= 1);
  assert.equal(quantile(0.99, mixed), 190);
  // Beyond the last bound: the last bound.
  assert.equal(quantile(0.99, cumulative({ [Infinity]: 5 })), 50_000);
});

it('validates the telemetry and admin config fields, naming them', () => {
  const config = parseSidecarConfig({ service: 'web' });
  assert.deepEqual(config.telemetry, { metrics: true, accessLog: 'off', reportMs: 1_000, otlp: undefined });
  assert.deepEqual(config.admin.listen, { host: '127.0.0.1', port: 0 });
  assert.throws(() => parseSidecarConfig({ service: 'web', telemetry: { accessLog: 5 } }), (err: Error & { field?: string }) => err.field === 'telemetry.accessLog' && /accessLog must be off, stdout, stderr or a file path/.test(err.message));
  assert.throws(() => parseSidecarConfig({ service: 'web', telemetry: { report: 'soon' } }), (err: Error & { field?: string }) => err.field === 'telemetry.report');
  assert.throws(() => parseSidecarConfig({ service: 'web', admin: { listen: 'nowhere' } }), (err: Error & { field?: string }) => err.field === 'admin.listen');
  assert.throws(() => parseSidecarConfig({ service: 'web', telemetry: { metric: true } }), (err: Error & { field?: string }) => err.field === 'telemetry.metric');
});

it('writes an access-log line exactly as JSON.stringify would, whatever its strings hold', () => {
  const plain = {
    level: 30 as const, time: 1795623753227, direction: 'inbound', requestId: '3f0c6f3e-1b2a-4c5d-9e8f-0a1b2c3d4e5f', traceId: TRACE, spanId: SPAN,
    method: 'GET', path: '/orders/7?x=1', authority: 'orders:8080', service: 'orders', route: 'get-order', peer: 'web', clientId: '',
    status: 200, classification: 'success', error: '', durationMs: 0.842, bytes: 13, upstream: '127.0.0.1:41234', endpointId: 'orders-1',
  };
  const variants = [
    plain,
    { ...plain, bytes: null, upstream: null, endpointId: null, status: 503, classification: 'failure', error: 'TRELLIS_ERR_NO_HEALTHY_ENDPOINTS' },
    { ...plain, path: '/q?a="x"&b=\\y' },
    { ...plain, requestId: 'id\u0000\n\t\u001f' },
    { ...plain, authority: 'café.example', path: '/\u2028\u2029' },
    { ...plain, path: '/\ud800-lone-surrogate' },
    { ...plain, clientId: 'spiffe://trellis.local/ns/default/svc/web', durationMs: 1e-7 },
    { ...plain, durationMs: Number.NaN },
  ];
  for (const line of variants) {
    assert.equal(formatAccessLine(line), JSON.stringify(line));
  }
});
