/**
 * OTLP export: an app instrumented with the OpenTelemetry SDK (@opentelemetry/sdk-trace-node,
 * exporting over OTLP/HTTP protobuf itself) calls a service through two sidecars, both with
 * `telemetry.otlp`; a local OTLP receiver decodes every export with the official OTLP protos
 * (./otlp-receiver.ts) and finds one trace: the app's span, the caller sidecar's
 * outbound hop as its child, the callee sidecar's inbound hop as that one's child — each
 * with its resource (service, instance). A bad endpoint is refused with the field named.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { parseSidecarConfig } from '../../src/proxy/config.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, send, sidecar, startApp, tearDown, url, type App } from '../proxy/helpers.js';
import { startOtlpReceiver, type OtlpReceiver, type Received } from './otlp-receiver.js';

const dir = tempDir('otlp');
const sidecars: Sidecar[] = [];
const apps: App[] = [];
let received: Received[];
let contentTypes: Set<string>;
let receiver: OtlpReceiver;
let endpoint: string;
let server: ServerProcess;
let caller: Sidecar;
let provider: NodeTracerProvider;

before(async () => {
  receiver = await startOtlpReceiver();
  ({ endpoint, received, contentTypes } = receiver);

  server = await startServer(dir.path, ['--dns', 'off']);
  const app = await startApp('one');
  apps.push(app);
  const otlp = { otlp: { endpoint } };
  sidecars.push(await replica(server.url, 'orders', app, { telemetry: otlp }));
  caller = await sidecar({ service: 'shop', id: 'shop-1', controlPlane: server.url, upstreams: ['orders'], telemetry: otlp });
  sidecars.push(caller);
  await endpointsReached(caller, 'orders', 1);

  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'shop-app' }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: endpoint }))],
  });
});

after(async () => {
  await provider.shutdown();
  await tearDown(dir, sidecars, apps);
  await receiver.close();
});

it('exports the app\'s span and both hops in one trace with correct parents', async () => {
  const tracer = provider.getTracer('shop-app');
  const span = tracer.startSpan('GET orders', { kind: SpanKind.CLIENT });
  const headers: Record<string, string> = { host: 'orders' };
  new W3CTraceContextPropagator().inject(trace.setSpan(context.active(), span), headers, { set: (carrier, key, value) => { (carrier as Record<string, string>)[key] = value; } });
  assert.ok(propagation !== undefined && headers['traceparent'] !== undefined, 'the SDK made a traceparent');
  const answer = await send(url(caller.outbound, '/orders/7?secret=1'), { headers });
  assert.equal(answer.status, 200);
  span.end();
  const { traceId, spanId: appSpan } = span.spanContext();

  const spans = await waitFor('the app span and both hops at the receiver', () => {
    const inTrace = received.filter((s) => s.traceId === traceId);
    return inTrace.length >= 3 ? inTrace : undefined;
  }, { timeoutMs: 20_000 });
  assert.equal(spans.length, 3, JSON.stringify(spans));
  const app = spans.find((s) => s.service === 'shop-app');
  const outbound = spans.find((s) => s.service === 'shop');
  const inbound = spans.find((s) => s.service === 'orders');
  assert.ok(app !== undefined && outbound !== undefined && inbound !== undefined, JSON.stringify(spans));
  assert.equal(app.spanId, appSpan);
  assert.equal(outbound.parentSpanId, app.spanId, 'the caller sidecar\'s hop is a child of the app\'s span');
  assert.equal(inbound.parentSpanId, outbound.spanId, 'the callee sidecar\'s hop is a child of the caller sidecar\'s');
  assert.equal(outbound.kind, 3, 'outbound: SPAN_KIND_CLIENT');
  assert.equal(inbound.kind, 2, 'inbound: SPAN_KIND_SERVER');
  assert.equal(outbound.instance, 'shop-1');
  assert.equal(inbound.instance, 'orders-one');
  assert.equal(inbound.attributes['url.path'], '/orders/7', 'the path without its query');
  assert.equal(inbound.attributes['trellis.peer'], 'shop');
  assert.equal(outbound.attributes['trellis.endpoint'], 'orders-one');
  assert.equal(outbound.attributes['http.request.method'], 'GET');
  assert.ok(contentTypes.has('application/x-protobuf'), `OTLP/HTTP protobuf: ${[...contentTypes].join(', ')}`);
});

it('refuses an otlp endpoint that is not an http(s) URL, naming the field', () => {
  assert.throws(() => parseSidecarConfig({ service: 'shop', controlPlane: 'http://127.0.0.1:1', telemetry: { otlp: { endpoint: 'collector:4317' } } }),
    (err: Error) => /otlp\.endpoint/.test(err.message) && /http:\/\/ or https:\/\//.test(err.message));
});

it('loads the OpenTelemetry packages only when a sidecar exports, at its first span', async () => {
  // A fresh process (this one loaded the SDK for the app): the sidecar's telemetry, without and with otlp.
  const telemetryModule = new URL('../../src/proxy/telemetry.js', import.meta.url).href;
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(${JSON.stringify(import.meta.url)});
    const { createSidecarTelemetry } = await import(${JSON.stringify(telemetryModule)});
    // prom-client itself loads @opentelemetry/api; the SDK, exporter and transformer are ours to load.
    const loaded = () => Object.keys(require.cache).filter((k) => k.includes('@opentelemetry') && !k.includes('@opentelemetry/api/')).length;
    const resource = { service: 's', instance: 'i', namespace: 'default', spiffeId: () => undefined };
    const base = { service: 's', routes: [], upstreams: [] };
    const off = createSidecarTelemetry({ ...base, telemetry: { metrics: true, accessLog: 'off', reportMs: 0, otlp: undefined } }, () => 0, () => {}, resource);
    const on = createSidecarTelemetry({ ...base, telemetry: { metrics: true, accessLog: 'off', reportMs: 0, otlp: { endpoint: ${JSON.stringify(endpoint)}, headers: {} } } }, () => 0, () => {}, resource);
    process.stdout.write(JSON.stringify({ off: loaded() }));
    await off.close(); await on.close();
  `;
  const { execFileSync } = await import('node:child_process');
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { off: number };
  assert.equal(out.off, 0, 'no OpenTelemetry SDK package is loaded by a sidecar without telemetry.otlp, nor before its first span');
});
