/**
 * Micro-benchmark of the load-balancing strategies: picks per second (each pick
 * followed by its done()) with 3 and 100 endpoints, and the cost of an update.
 * Every row is also given relative to a reference measured in the same run — a
 * bare uniform random pick — since absolute numbers vary between machines.
 *
 *     npx tsc -p tsconfig.json && node dist/bench/balancer.js [--ms=300]
 *
 * or, from bench/run.ts, `balancerBench()`.
 */
import { pathToFileURL } from 'node:url';
import { strategies, type Balancer, type Endpoint, type PickContext } from '../src/balancer/index.js';

const KEYS = Array.from({ length: 4096 }, (_, i) => `session-${i}`);
const RESULT = { latencyMs: 12, success: true };

function endpointSet(n: number): Endpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `backend-${i}`,
    address: `10.0.${i >> 8}.${i & 255}`,
    port: 8080,
    weight: 1 + (i % 3),
    metadata: {},
  }));
}

/** Picks per second of `pick`, measured for about `budgetMs` after a warm-up. */
function rate(pick: (i: number) => void, budgetMs: number): number {
  for (let i = 0; i < 20_000; i++) pick(i);
  let picks = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < budgetMs) {
    for (let i = 0; i < 10_000; i++) pick(picks + i);
    picks += 10_000;
    elapsed = performance.now() - start;
  }
  return (picks / elapsed) * 1000;
}

function balancerRate(balancer: Balancer, context: (i: number) => PickContext | undefined, budgetMs: number): number {
  return rate((i) => {
    const result = balancer.pick(context(i));
    if (result.kind === 'pick') result.done(RESULT);
  }, budgetMs);
}

/** Mean time of one update() with a set that alternates between two versions (one endpoint differs). */
function updateMicros(balancer: Balancer, set: readonly Endpoint[]): number {
  const other = [...set.slice(1), { ...set[0], id: 'replacement' }];
  const rounds = 20;
  const start = performance.now();
  for (let i = 0; i < rounds; i++) balancer.update(i % 2 === 0 ? other : set);
  return ((performance.now() - start) / rounds) * 1000;
}

function format(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`;
}

/** Measure every registered strategy and print a markdown table. */
export function balancerBench(budgetMs = 300): void {
  const rows: string[][] = [];
  for (const size of [3, 100]) {
    const set = endpointSet(size);
    const reference = rate((i) => {
      const endpoint = set[Math.floor(Math.random() * set.length)];
      if (endpoint === undefined || i < 0) throw new Error('unreachable');
    }, budgetMs);
    rows.push(['(reference: uniform random index)', String(size), '', format(reference), '1.00', '']);
    for (const name of strategies.names) {
      const factory = strategies.configure({ strategy: name });
      const modes: Array<[string, (i: number) => PickContext | undefined]> = [
        ['', () => undefined],
        ['hashKey', (i) => ({ hashKey: KEYS[i & 4095] })],
      ];
      for (const [mode, context] of modes) {
        const balancer = factory.create();
        balancer.update(set);
        const picks = balancerRate(balancer, context, budgetMs);
        rows.push([name, String(size), mode, format(picks), (picks / reference).toFixed(2), mode === 'hashKey' ? '' : updateMicros(balancer, set).toFixed(0)]);
      }
    }
  }

  const header = ['strategy', 'endpoints', 'context', 'picks/s', 'vs reference', 'update µs'];
  process.stdout.write(`| ${header.join(' | ')} |\n|${header.map(() => ' --- |').join('')}\n`);
  for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  balancerBench(Number(process.argv.find((a) => a.startsWith('--ms='))?.slice(5) ?? 300));
}
