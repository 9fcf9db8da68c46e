/**
 * Micro-benchmark of authorization decisions (src/security/authz/engine.ts), the work the
 * inbound layer adds to every request: decisions per second for policy sets of growing
 * size, allowed (the common case: no sentence is written) and denied (the explanation is
 * read, as the 403 body does), each relative to a reference measured in the same run — an
 * empty call that reads the same request fields. Medians of 5 repeats.
 *
 *     npx tsc -p tsconfig.json && node dist/bench/authz.js [--ms=300]
 *
 * or, from bench/run.ts, `authzBench()`.
 */
import { pathToFileURL } from 'node:url';
import { PolicySet } from '../src/security/authz/engine.js';
import { serviceIdentity } from '../src/security/spiffe.js';
import { parsePolicy } from '../src/security/authz/schema.js';
import type { AccessRequest, Policy } from '../src/security/authz/types.js';
import { median } from './lib.js';

const PATHS = Array.from({ length: 64 }, (_, i) => `/api/v${i % 3}/orders/${i}?page=${i}`);

/** `count` policies for `b` of `rules` rules each (method + path rules from other callers), plus one that allows `a` at the end. */
function policies(count: number, rules: number): Policy[] {
  const out: Policy[] = [];
  for (let p = 0; p < count; p++) {
    out.push(parsePolicy({
      name: `p${String(p).padStart(3, '0')}`,
      service: 'b',
      rules: Array.from({ length: rules }, (_, r) => ({ action: r % 4 === 0 ? 'deny' : 'allow', from: [`caller-${p}-${r}`], methods: ['POST'], paths: [`/internal/${r}`] })),
    }));
  }
  out.push(parsePolicy({ name: 'zz-a', service: 'b', default: 'deny', rules: [{ action: 'allow', from: ['a'], methods: ['GET'], paths: ['/api'] }] }));
  return out;
}

function rate(decide: (i: number) => void, budgetMs: number): number {
  for (let i = 0; i < 20_000; i++) decide(i);
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < budgetMs) {
    for (let i = 0; i < 10_000; i++) decide(n + i);
    n += 10_000;
    elapsed = performance.now() - start;
  }
  return (n / elapsed) * 1000;
}

function format(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`;
}

export function authzBench(budgetMs = 300, repeats = 5): void {
  const a = serviceIdentity('a');
  const c = serviceIdentity('c');
  const requests: AccessRequest[] = PATHS.map((path) => ({ service: 'b', peer: a, protocol: 'http', method: 'GET', path }));
  const denied: AccessRequest[] = PATHS.map((path) => ({ service: 'b', peer: c, protocol: 'http', method: 'GET', path }));
  let sink = 0;
  const reference = median(Array.from({ length: repeats }, () => rate((i) => {
    const r = requests[i & 63];
    if (r !== undefined) sink += r.path?.length ?? 0;
  }, budgetMs)));
  const rows: string[][] = [['(reference: read the request)', '', '', format(reference), '1.00', '']];
  const sets: Array<[string, number, number]> = [['none', 0, 0], ['1 × 1 rule', 1, 1], ['10 × 10 rules', 10, 10], ['50 × 20 rules', 50, 20]];
  for (const [label, count, rules] of sets) {
    const set = new PolicySet('b', count === 0 ? [] : policies(count, rules));
    const allowed = median(Array.from({ length: repeats }, () => rate((i) => {
      const r = requests[i & 63];
      if (r !== undefined && set.decide(r).allowed) sink += 1;
    }, budgetMs)));
    const refused = count === 0 ? undefined : median(Array.from({ length: repeats }, () => rate((i) => {
      const r = denied[i & 63];
      if (r !== undefined) sink += set.decide(r).explanation.length;
    }, budgetMs)));
    rows.push([label, String(set.policies.reduce((n, p) => n + p.rules.length, 0)), 'allowed', format(allowed), (allowed / reference).toFixed(3), `${(1e9 / allowed).toFixed(0)} ns`]);
    if (refused !== undefined) rows.push([label, '', 'denied + sentence', format(refused), (refused / reference).toFixed(3), `${(1e9 / refused).toFixed(0)} ns`]);
  }
  const header = ['policies', 'rules', 'decision', 'decisions/s', 'vs reference', 'per decision'];
  process.stdout.write(`| ${header.join(' | ')} |\n|${header.map(() => ' --- |').join('')}\n`);
  for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
  if (sink === -1) process.stdout.write('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  authzBench(Number(process.argv.find((a) => a.startsWith('--ms='))?.slice(5) ?? 300));
}
