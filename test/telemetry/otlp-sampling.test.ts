/**
 * Sampling of exported spans, as OpenTelemetry's ParentBased(TraceIdRatioBased(ratio)):
 * a trace a sidecar starts (no valid traceparent) is sampled by its trace id against
 * `telemetry.otlp.sampleRatio`; a trace the caller started keeps the caller's sampled flag,
 * whatever this sidecar's ratio. Either way the trace context is propagated, with the sampled
 * flag set or not (W3C), and only sampled hops reach the OTLP receiver.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { parseSidecarConfig } from '../../src/proxy/config.js';
import { DEFAULT_SAMPLE_RATIO } from '../../src/telemetry/otlp.js';
import { newTraceId, traceIdRatioSampled } from '../../src/telemetry/trace-context.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, send, sidecar, startApp, tearDown, url, type App } from '../proxy/helpers.js';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver.js';

const dir = tempDir('otlp-sampling');
const sidecars: Sidecar[] = [];
const apps: App[] = [];
let receiver: OtlpReceiver;
let server: ServerProcess;
/** sampleRatio 0: starts only unsampled traces. */
let never: Sidecar;
/** sampleRatio 1: samples every trace it starts. */
let always: Sidecar;

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

before(async () => {
  receiver = await startOtlpReceiver();
  server = await startServer(dir.path, ['--dns', 'off']);
  // The app answers with the headers it got.
  const app = await startApp('one', (req, res) => { req.resume(); res.end(JSON.stringify(req.headers)); });
  apps.push(app);
  // The callee samples nothing it starts: what it exports is only what its callers sampled.
  sidecars.push(await replica(server.url, 'orders', app, { telemetry: { otlp: { endpoint: receiver.endpoint, sampleRatio: 0 } } }));
  never = await sidecar({ service: 'shop', id: 'shop-1', controlPlane: server.url, upstreams: ['orders'], telemetry: { otlp: { endpoint: receiver.endpoint, sampleRatio: 0 } } });
  always = await sidecar({ service: 'web', id: 'web-1', controlPlane: server.url, upstreams: ['orders'], telemetry: { otlp: { endpoint: receiver.endpoint, sampleRatio: 1 } } });
  sidecars.push(never, always);
  await endpointsReached(never, 'orders', 1);
  await endpointsReached(always, 'orders', 1);
});

after(async () => {
  await tearDown(dir, sidecars, apps);
  await receiver.close();
});

/** Sends through a caller sidecar; the traceparent the app got, parsed. */
async function call(through: Sidecar, traceparent?: string): Promise<{ traceId: string; parent: string; flags: string }> {
  const headers: Record<string, string> = { host: 'orders' };
  if (traceparent !== undefined) headers['traceparent'] = traceparent;
  const answer = await send(url(through.outbound, '/orders/1'), { headers });
  assert.equal(answer.status, 200, answer.body);
  const seen = (JSON.parse(answer.body) as Record<string, string>)['traceparent'] ?? '';
  const match = TRACEPARENT.exec(seen);
  assert.ok(match !== null, `the app got a W3C traceparent: ${seen}`);
  return { traceId: match[1], parent: match[2], flags: match[3] };
}

const spansOf = (traceId: string) => receiver.received.filter((s) => s.traceId === traceId);

it('honours the caller\'s sampled flag and propagates unsampled traces without exporting them', async () => {
  // Unsampled: a trace the ratio-0 sidecar starts, and one the app started unsampled.
  const started = await call(never);
  assert.equal(started.flags, '00', 'a trace started at ratio 0 goes on unsampled (flags 00)');
  const appUnsampled = newTraceId();
  const unsampled = await call(never, `00-${appUnsampled}-${randomBytes(8).toString('hex')}-00`);
  assert.equal(unsampled.traceId, appUnsampled, 'the caller\'s trace id is kept');
  assert.equal(unsampled.flags, '00', 'the caller\'s unsampled flag is kept');
  // Sampled by the app: exported by both sidecars although neither samples what it starts.
  const appSampled = newTraceId();
  const appSpan = randomBytes(8).toString('hex');
  const sampled = await call(never, `00-${appSampled}-${appSpan}-01`);
  assert.equal(sampled.flags, '01', 'the caller\'s sampled flag is kept');
  const spans = await waitFor('both hops of the app-sampled trace at the receiver', () => {
    const found = spansOf(appSampled);
    return found.length >= 2 ? found : undefined;
  }, { timeoutMs: 20_000 });
  const outbound = spans.find((s) => s.service === 'shop');
  const inbound = spans.find((s) => s.service === 'orders');
  assert.ok(outbound !== undefined && inbound !== undefined, JSON.stringify(spans));
  assert.equal(outbound.parentSpanId, appSpan, 'the outbound hop is the app span\'s child');
  assert.equal(inbound.parentSpanId, outbound.spanId, 'the inbound hop is the outbound hop\'s child');
  assert.equal(inbound.spanId, sampled.parent, 'the app\'s parent is the inbound hop');
  // The unsampled requests went before it through the same sidecars and queues: none was exported.
  assert.deepEqual(spansOf(started.traceId), [], 'no span of the trace started unsampled');
  assert.deepEqual(spansOf(appUnsampled), [], 'no span of the trace the app left unsampled');
});

it('samples a trace it starts at ratio 1, and the callee follows that decision', async () => {
  const started = await call(always);
  assert.equal(started.flags, '01', 'a trace started at ratio 1 goes on sampled (flags 01)');
  const spans = await waitFor('both hops of the sidecar-started trace', () => {
    const found = spansOf(started.traceId);
    return found.length >= 2 ? found : undefined;
  }, { timeoutMs: 20_000 });
  const outbound = spans.find((s) => s.service === 'web');
  const inbound = spans.find((s) => s.service === 'orders');
  assert.ok(outbound !== undefined && inbound !== undefined, JSON.stringify(spans));
  assert.equal(outbound.parentSpanId, '', 'the outbound hop is the trace\'s root');
  assert.equal(inbound.parentSpanId, outbound.spanId, 'the ratio-0 callee exported its hop of a sampled trace');
  // The export's drops are counted (none here), in an exposition promtool accepts.
  const metrics = await (await fetch(url(always.admin, '/metrics'))).text();
  assert.match(metrics, /^trellis_otlp_spans_dropped_total 0$/m, 'trellis_otlp_spans_dropped_total on the sidecar\'s /metrics');
  const checked = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
  assert.equal(checked.status, 0, `promtool check metrics on an exporting sidecar: ${checked.stdout}${checked.stderr}`);
});

it('samples the share of started traces its ratio says, consistently by trace id', () => {
  const ids = Array.from({ length: 20_000 }, () => newTraceId());
  for (const ratio of [0.01, 0.1, 0.5]) {
    const share = ids.filter((id) => traceIdRatioSampled(id, ratio)).length / ids.length;
    // Binomial: 20 000 draws; 6 standard deviations (+ 0.002) fail with probability < 1e-8.
    const margin = 6 * Math.sqrt((ratio * (1 - ratio)) / ids.length) + 0.002;
    assert.ok(Math.abs(share - ratio) < margin, `ratio ${ratio}: sampled ${share}`);
  }
  // Consistent: a trace sampled at a ratio is sampled at every higher one (the same threshold rule as OpenTelemetry).
  for (const id of ids.slice(0, 2_000)) if (traceIdRatioSampled(id, 0.1)) assert.ok(traceIdRatioSampled(id, 0.5), id);
  assert.equal(traceIdRatioSampled(`${'0'.repeat(16)}${'f'.repeat(16)}`, 0.001), true, 'the highest randomness is sampled at any ratio above 0');
  assert.equal(traceIdRatioSampled(`${'f'.repeat(16)}${'0'.repeat(16)}`, 0.999), false, 'randomness 0 is sampled only at ratio 1');
  assert.equal(traceIdRatioSampled(ids[0], 1), true);
  assert.equal(traceIdRatioSampled(ids[0], 0), false);
});

it('defaults sampleRatio and refuses one outside 0–1, naming the field', () => {
  const base = { service: 'shop', controlPlane: 'http://127.0.0.1:1' };
  const parsed = parseSidecarConfig({ ...base, telemetry: { otlp: { endpoint: 'http://127.0.0.1:4318/v1/traces' } } });
  assert.equal(parsed.telemetry.otlp?.sampleRatio, DEFAULT_SAMPLE_RATIO);
  for (const bad of [1.5, -0.1, '10%']) {
    assert.throws(() => parseSidecarConfig({ ...base, telemetry: { otlp: { endpoint: 'http://127.0.0.1:4318/v1/traces', sampleRatio: bad } } }),
      (err: Error) => /otlp\.sampleRatio/.test(err.message) && /0 to 1/.test(err.message), `sampleRatio ${String(bad)} refused`);
  }
});
