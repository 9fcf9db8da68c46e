/**
 * Trellis's own per-request cost on the data path, without sockets: a request through the
 * outbound pipeline (timeout → retry → circuit breaker → outlier → balance) with and without
 * the telemetry layers (propagate, metrics), to an upstream that answers at once from
 * memory, against a reference that calls that upstream directly; and the HTTP/1 head rewrite
 * (hop-by-hop out, x-forwarded-for and x-request-id in). No kernel, no undici, no node:http:
 * what is left is ours, so the figures hold on a busy machine better than the end-to-end
 * benchmark's (compare within a run). 50 requests in flight, like the end-to-end benchmark.
 *
 *     npx tsc -p tsconfig.json && node dist/bench/pipeline.js
 *
 * or, from bench/run.ts (`make bench`), `pipelineBench()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { strategies } from '../src/balancer/registry.js';
import type { Endpoint } from '../src/balancer/types.js';
import { NO_BODY } from '../src/proxy/body.js';
import { Cancellation } from '../src/proxy/cancel.js';
import { Cluster } from '../src/proxy/discovery/cluster.js';
import { requestHead } from '../src/proxy/http1/headers.js';
import { OutlierDetectors } from '../src/proxy/layers/outlier.js';
import { outboundStack } from '../src/proxy/pipeline.js';
import { DEFAULT_UPSTREAM_POLICY } from '../src/proxy/policy.js';
import { createSidecarTelemetry } from '../src/proxy/telemetry.js';
import type { EndpointHandler, Handler, Outcome, ProxyRequest, Target } from '../src/proxy/types.js';
import { median } from './lib.js';

const REQUESTS = Number(process.env['BENCH_PIPELINE_REQUESTS'] ?? 200_000);
const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 5);
const IN_FLIGHT = 50;
const SERVICE = 'hello';
const RAW_HEADERS = ['Host', '127.0.0.1:8080', 'User-Agent', 'wrk', 'Accept', '*/*'];

const target: Target = { direction: 'outbound', service: SERVICE, policy: DEFAULT_UPSTREAM_POLICY };
const endpoint: Endpoint = { id: 'hello-1', address: '127.0.0.1', port: 8080, weight: 1, metadata: {} };
const answer: Outcome = { ok: true, classification: 'success', response: { status: 200, headers: { 'content-length': '14' }, body: null, endpoint } };
const upstream: EndpointHandler = () => Promise.resolve(answer);

function proxyRequest(): ProxyRequest {
  const head = requestHead(RAW_HEADERS, '127.0.0.1');
  return {
    id: head.requestId, method: 'GET', path: '/', headers: head.headers, body: NO_BODY, target,
    signal: new Cancellation(), startedAt: performance.now(), tried: new Set(),
  };
}

/** Telemetry layers: none, the default (propagate, metrics), or those and an access log to `accessLog` (a file). */
type Telemetry = false | true | { accessLog: string };

function outbound(telemetry: Telemetry): Handler {
  const detectors = new OutlierDetectors();
  const view = { service: SERVICE, state: 'connected', revision: 1, registered: 1, endpoints: [endpoint], policy: DEFAULT_UPSTREAM_POLICY, policySource: { serviceDefaultsRevision: undefined, overrides: [] } } as const;
  const cluster = new Cluster(view, detectors.for(SERVICE, DEFAULT_UPSTREAM_POLICY.outlierDetection));
  const accessLog = typeof telemetry === 'object' ? telemetry.accessLog : 'off';
  const layers = telemetry === false ? [] : createSidecarTelemetry({ service: 'bench', telemetry: { metrics: true, accessLog, reportMs: 0, otlp: undefined }, routes: [], upstreams: [] }, () => 0).layers;
  return outboundStack({ clusters: (service) => (service === SERVICE ? cluster : undefined), detectors, upstream, telemetry: layers });
}

/** ns per request through `handler`, IN_FLIGHT at a time. */
async function run(handler: Handler): Promise<number> {
  let started = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (started < REQUESTS) {
      started += 1;
      const outcome = await handler(proxyRequest());
      if (!outcome.ok) throw new Error(`the pipeline failed: ${outcome.failure.error.message}`);
    }
  }));
  return ((performance.now() - t0) * 1e6) / REQUESTS;
}

export async function pipelineBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-pipeline-'));
  try {
    await measure(join(dir, 'access.log'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(accessLog: string): Promise<void> {
  const paths: Record<string, Handler> = {
    'reference: head rewrite + the upstream called directly': (request) => upstream(request, endpoint),
    'outbound pipeline, no telemetry': outbound(false),
    'outbound pipeline + telemetry (propagate, metrics)': outbound(true),
    [`outbound pipeline + telemetry + an access log (a file in ${tmpdir()})`]: outbound({ accessLog }),
  };
  const results = new Map<string, number[]>(Object.keys(paths).map((name) => [name, []]));
  for (const handler of Object.values(paths)) await run(handler); // warm-up
  for (let i = 0; i < REPEATS; i++) {
    for (const [name, handler] of Object.entries(paths)) results.get(name)?.push(await run(handler));
  }
  const reference = median(results.get(Object.keys(paths)[0] ?? '') ?? []);
  process.stdout.write(`| path | ns per request (median of ${REPEATS}) | added over the reference |\n| --- | ---: | ---: |\n`);
  for (const [name, values] of results) {
    const ns = median(values);
    process.stdout.write(`| ${name} | ${ns.toFixed(0)} | ${(ns - reference).toFixed(0)} |\n`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  pipelineBench().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
