/** Shared test fixtures for the balancer tests: endpoints, seeded randomness, a manual clock, a traffic driver. */
import type { Balancer, Endpoint, PickContext } from '../../src/balancer/index.js';

/** An endpoint with a made-up address; weight 1 unless given. */
export function endpoint(id: string, weight = 1): Endpoint {
  return { id, address: `10.0.0.${id.length}`, port: 8080, weight, metadata: {} };
}

/** Endpoints from `{ id: weight }`. */
export function endpoints(weights: Record<string, number>): Endpoint[] {
  return Object.entries(weights).map(([id, weight]) => endpoint(id, weight));
}

/** A seeded PRNG (mulberry32): uniform in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A clock that moves only when told. */
export interface ManualClock {
  now(): number;
  advance(ms: number): void;
}

export function manualClock(start = 0): ManualClock {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

export interface Traffic {
  /** Context per request; default: none. */
  context?: ((i: number) => PickContext) | undefined;
  /** Latency each endpoint answers with; default 10 ms. */
  latencyMs?: (endpointId: string) => number;
  /** Clock to advance by 1 ms per request. */
  clock?: ManualClock;
}

/**
 * Send `n` requests, each completing (done) before the next is picked.
 * Returns picks per endpoint id; "none" results are counted under `none:<reason>`.
 */
export function drive(balancer: Balancer, n: number, traffic: Traffic = {}): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const result = balancer.pick(traffic.context?.(i));
    const key = result.kind === 'pick' ? result.endpoint.id : `none:${result.reason}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    traffic.clock?.advance(1);
    if (result.kind === 'pick') result.done({ latencyMs: traffic.latencyMs?.(result.endpoint.id) ?? 10, success: true });
  }
  return counts;
}

/** Share of `n` that went to `id`. */
export function share(counts: Map<string, number>, id: string, n: number): number {
  return (counts.get(id) ?? 0) / n;
}

/** The endpoint id a pick chose, failing the test on "none". */
export function pickedId(balancer: Balancer, context?: PickContext): string {
  const result = balancer.pick(context);
  if (result.kind !== 'pick') throw new Error(`expected a pick, got none (${result.reason})`);
  result.done({ latencyMs: 1, success: true });
  return result.endpoint.id;
}
