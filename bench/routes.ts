/**
 * Micro-benchmark of traffic routes (src/proxy/routing, the route layers): the work a caller's
 * sidecar adds to every request of a service with 1, 100 and 1,000 routes — the match alone
 * (the request matching the route that comes last in precedence order, the worst case of the
 * linear scan, and a request no route matches), and the five route layers (match, rate
 * limit, fault, header changes, mirror) around a handler that answers at once, with a
 * rule that splits 90/10 and sets a request header. Each is relative to a reference measured
 * in the same run: the same handler called directly. Medians of 5 repeats.
 *
 *     npx tsc -p tsconfig.json && node dist/bench/routes.js [--ms=300]
 *
 * or, from bench/run.ts, `routesBench()`.
 */
import { pathToFileURL } from 'node:url';
import type { RouteSpec } from '../src/core/route.js';
import { Cancellation } from '../src/proxy/cancel.js';
import { createFaultLayer } from '../src/proxy/layers/fault.js';
import { createHeaderModifierLayer } from '../src/proxy/layers/header-modifier.js';
import { createMirrorLayer } from '../src/proxy/layers/mirror.js';
import { createRateLimitLayer } from '../src/proxy/layers/rate-limit.js';
import { createRouteMatchLayer } from '../src/proxy/layers/route-match.js';
import { DEFAULT_UPSTREAM_POLICY } from '../src/proxy/policy.js';
import { parseRoute } from '../src/proxy/routing/schema.js';
import { RouteTable } from '../src/proxy/routing/table.js';
import type { Handler, Layer, Outcome, ProxyRequest, Target } from '../src/proxy/types.js';
import { median } from './lib.js';

/** `count` routes of `svc`, each one rule on its own path prefix and header; the last one splits 90/10 and sets a header. */
function routes(count: number): RouteSpec[] {
  return Array.from({ length: count }, (_, i) => parseRoute({
    name: `r${String(i).padStart(4, '0')}`,
    parentRefs: [{ name: 'svc' }],
    subsets: { v1: { version: 'v1' }, v2: { version: 'v2' } },
    rules: [{
      matches: [{ path: { type: 'PathPrefix', value: `/api/r${i}` }, method: 'GET', headers: [{ name: 'x-tenant', value: 'acme' }] }],
      backendRefs: [{ subset: 'v1', weight: 90 }, { subset: 'v2', weight: 10 }],
      filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-route', value: `r${i}` }] } }],
    }],
  }));
}

async function rate(call: (i: number) => unknown, budgetMs: number): Promise<number> {
  for (let i = 0; i < 20_000; i++) await call(i);
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < budgetMs) {
    for (let i = 0; i < 5_000; i++) await call(n + i);
    n += 5_000;
    elapsed = performance.now() - start;
  }
  return (n / elapsed) * 1000;
}

function format(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`;
}

export async function routesBench(budgetMs = 300, repeats = 5): Promise<void> {
  const answer: Outcome = { ok: true, response: { status: 200, headers: {}, body: null, endpoint: undefined }, classification: 'success' };
  const inner: Handler = () => Promise.resolve(answer);
  const layers: Layer[] = [createRouteMatchLayer(), createRateLimitLayer(), createFaultLayer(), createHeaderModifierLayer(), createMirrorLayer()];
  const stack = layers.reduceRight<Handler>((next, layer) => layer(next), inner);
  const request = (target: Target, path: string): ProxyRequest => ({
    id: 'r', method: 'GET', path, headers: { host: 'svc', 'x-tenant': 'acme', accept: '*/*' }, body: { open: () => null, replayable: true },
    target, signal: new Cancellation(), startedAt: 0, tried: new Set(),
  });
  const bare: Target = { direction: 'outbound', service: 'svc', policy: DEFAULT_UPSTREAM_POLICY };
  const plain = request(bare, '/api/x');
  const reference = median(await Promise.all([0]).then(async () => {
    const out: number[] = [];
    for (let r = 0; r < repeats; r++) out.push(await rate(() => inner(plain), budgetMs));
    return out;
  }));
  const rows: string[][] = [['(reference: the handler alone)', '', format(reference), '1.00', `${(1e9 / reference).toFixed(0)} ns`]];
  let sink = 0;
  for (const count of [1, 100, 1_000]) {
    const table = new RouteTable('svc', routes(count), DEFAULT_UPSTREAM_POLICY);
    const target: Target = { ...bare, routes: table };
    const last = `/api/r${count - 1}/items?page=2`;
    const cases: Array<[string, () => unknown]> = [
      ['match: the last route', () => { sink += table.match('GET', last, plain.headers)?.match ?? 0; }],
      ['match: no route', () => { sink += table.match('GET', '/other', plain.headers)?.match ?? 0; }],
      ['5 route layers, last route', () => stack(request(target, last))],
    ];
    for (const [label, call] of cases) {
      const out: number[] = [];
      for (let r = 0; r < repeats; r++) out.push(await rate(call, budgetMs));
      const per = median(out);
      rows.push([String(count), label, format(per), (per / reference).toFixed(3), `${(1e9 / per).toFixed(0)} ns`]);
    }
  }
  const header = ['routes', 'what', 'per second', 'vs reference', 'per request'];
  process.stdout.write(`| ${header.join(' | ')} |\n|${header.map(() => ' --- |').join('')}\n`);
  for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
  if (sink === -1) process.stdout.write('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const ms = Number(process.argv.find((a) => a.startsWith('--ms='))?.slice(5) ?? 300);
  await routesBench(ms);
}
