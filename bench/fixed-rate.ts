/**
 * An open-loop, fixed-rate HTTP load generator (wrk2's idea, on undici): request i is due
 * at start + i / rate whatever happened to earlier ones, and its latency is measured from
 * that intended send time — so a stall in the server under test counts against every
 * request it delayed (no coordinated omission), not just the one it held up.
 *
 *     node dist/bench/fixed-rate.js URL [--rate=1000] [--seconds=6] [--warmup=1] [--connections=64]
 *
 * Prints `{"event":"measuring"}` when the warm-up ends, then one JSON line (FixedRateResult).
 * The first `warmup` seconds are sent but not counted. Node's timers tick at 1 ms, so a
 * request waits up to about a millisecond past its intended time before it leaves
 * (`lagP50Ms` / `lagP99Ms` report how much): that wait is in every latency figure, equally
 * for every target measured the same way.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';

export interface FixedRateResult {
  rate: number;
  seconds: number;
  /** Requests counted (after the warm-up). */
  counted: number;
  /** Counted requests that failed: an error, a status other than 2xx, or no answer before the end. */
  errors: number;
  /** From the intended send time to the end of the response body. */
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** From the actual send to the end of the body (closed-loop style; for comparison). */
  serviceP50Ms: number;
  serviceP99Ms: number;
  /** How late requests left, past their intended time (the generator's own timer granularity and load). */
  lagP50Ms: number;
  lagP99Ms: number;
  /** Counted requests answered per second of the measured window. */
  achievedRate: number;
}

function quantile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[index];
}

/** `onMeasuring` is called when the warm-up ends and the counted requests start. */
export async function fixedRate(url: string, rate: number, seconds: number, warmup: number, connections: number, onMeasuring?: () => void): Promise<FixedRateResult> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const path = `${target.pathname}${target.search}`;
  const intervalMs = 1000 / rate;
  const skip = Math.round(rate * warmup);
  const total = skip + Math.round(rate * seconds);
  const latency = new Float64Array(total).fill(Number.POSITIVE_INFINITY);
  const service = new Float64Array(total).fill(Number.POSITIVE_INFINITY);
  const lag = new Float64Array(total);
  let errors = 0;
  let outstanding = 0;
  let lastCountedDone = 0;

  let allSent!: () => void;
  const sent = new Promise<void>((resolve) => { allSent = resolve; });
  let allDone: (() => void) | undefined;

  const send = (i: number, intended: number): void => {
    const sentAt = performance.now();
    lag[i] = sentAt - intended;
    outstanding += 1;
    const settle = (ok: boolean): void => {
      const now = performance.now();
      if (ok) {
        latency[i] = now - intended;
        service[i] = now - sentAt;
      }
      if (i >= skip) {
        if (!ok) errors += 1;
        lastCountedDone = Math.max(lastCountedDone, now);
      }
      outstanding -= 1;
      if (outstanding === 0) allDone?.();
    };
    pool.request({ path, method: 'GET' }).then(async (res) => {
      await res.body.dump();
      settle(res.statusCode >= 200 && res.statusCode < 300);
    }, () => settle(false));
  };

  const start = performance.now() + 20;
  let next = 0;
  const tick = (): void => {
    const now = performance.now();
    while (next < total && start + next * intervalMs <= now) {
      send(next, start + next * intervalMs);
      next += 1;
    }
    if (next >= total) {
      allSent();
      return;
    }
    const wait = start + next * intervalMs - performance.now();
    setTimeout(tick, wait >= 1 ? Math.floor(wait) : 0);
  };
  const measuredFrom = start + skip * intervalMs;
  setTimeout(tick, 20);
  if (onMeasuring !== undefined) setTimeout(onMeasuring, Math.max(0, measuredFrom - performance.now()));
  await sent;
  if (outstanding > 0) {
    await Promise.race([
      new Promise<void>((resolve) => { allDone = resolve; }),
      new Promise<void>((resolve) => setTimeout(resolve, 10_000).unref()),
    ]);
  }
  await pool.destroy();

  const counted = latency.subarray(skip);
  const unanswered = counted.reduce((n, v) => (Number.isFinite(v) ? n : n + 1), 0);
  const okLatency = Float64Array.from(counted.filter(Number.isFinite)).sort();
  const okService = Float64Array.from(service.subarray(skip).filter(Number.isFinite)).sort();
  const lags = Float64Array.from(lag.subarray(skip)).sort();
  // Failed requests keep an infinite latency, like those never answered: both are errors.
  const failures = Math.max(errors, unanswered);
  return {
    rate,
    seconds,
    counted: counted.length,
    errors: failures,
    p50Ms: quantile(okLatency, 0.5),
    p90Ms: quantile(okLatency, 0.9),
    p99Ms: quantile(okLatency, 0.99),
    p999Ms: quantile(okLatency, 0.999),
    maxMs: okLatency.length === 0 ? Number.NaN : okLatency[okLatency.length - 1],
    serviceP50Ms: quantile(okService, 0.5),
    serviceP99Ms: quantile(okService, 0.99),
    lagP50Ms: quantile(lags, 0.5),
    lagP99Ms: quantile(lags, 0.99),
    achievedRate: okLatency.length / (Math.max(lastCountedDone - measuredFrom, 1) / 1000),
  };
}

function option(name: string, fallback: number): number {
  const raw = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (raw === undefined) return fallback;
  const value = Number(raw.slice(name.length + 3));
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number ≥ 0`);
  return value;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.argv.slice(2).find((a) => !a.startsWith('--'));
  if (url === undefined) {
    process.stderr.write('usage: node dist/bench/fixed-rate.js URL [--rate=1000] [--seconds=6] [--warmup=1] [--connections=64]\n');
    process.exit(2);
  }
  const result = await fixedRate(url, option('rate', 1000), option('seconds', 6), option('warmup', 1), option('connections', 64),
    () => process.stdout.write('{"event":"measuring"}\n'));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
