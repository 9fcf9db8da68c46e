/**
 * `peak-ewma`: Linkerd's default balancer (from Finagle). Each endpoint keeps a
 * latency estimate that jumps to any higher sample at once (the "peak") and
 * otherwise moves towards new samples as an exponentially weighted moving average
 * with time constant `decay`. A pick compares, by power of d choices,
 *
 *     cost = estimate × (1 + inFlight / weight)
 *
 * which is Linkerd's estimate × (inFlight + 1) with the load counted per unit of
 * weight. An endpoint with no sample yet costs 0 while it has nothing in flight
 * (so it is probed at once) and a large penalty while its first request is pending.
 *
 * A slow endpoint keeps being probed because candidates are drawn with replacement
 * (it is picked when drawn every time), and the first fast sample after it recovers
 * pulls its estimate down in proportion to how long it went unsampled.
 */
import { choiceCountField, createChoiceBalancer } from './choice.js';
import type { Entry } from './endpoint-set.js';
import type { InFlight } from './result.js';
import { defineStrategy, durationField } from './strategy.js';
import type { RequestResult } from './types.js';

interface LatencyState extends InFlight {
  /** Peak-EWMA latency in ms; meaningful once `sampled`. */
  estimateMs: number;
  sampled: boolean;
  /** When the last sample was taken (runtime clock, ms). */
  sampledAt: number;
}

/**
 * Smallest latency sample taken (1 µs). Samples below it (a sub-millisecond response
 * timed with a millisecond clock reads 0) are raised to it, so that cost still grows
 * with load instead of being 0 × (1 + load).
 */
const MIN_SAMPLE_MS = 0.001;

/** Cost of an unsampled endpoint that already has a request in flight: only chosen if all candidates are. */
const UNSAMPLED_PENALTY = 1e9;

function cost(entry: Entry<LatencyState>): number {
  const { state, endpoint } = entry;
  const load = state.inFlight / endpoint.weight;
  if (!state.sampled) return state.inFlight === 0 ? 0 : UNSAMPLED_PENALTY + load;
  return state.estimateMs * (1 + load);
}

export const peakEwma = defineStrategy({
  name: 'peak-ewma',
  summary: "Linkerd's default: power of two choices on peak-EWMA latency × (in-flight + 1).",
  config: {
    decay: durationField('decay', 100, 600_000).default(10_000),
    choiceCount: choiceCountField,
  },
  create({ decay, choiceCount }, runtime) {
    const { now } = runtime;
    return createChoiceBalancer<LatencyState>({
      choiceCount,
      initialState: () => ({ inFlight: 0, estimateMs: 0, sampled: false, sampledAt: 0 }),
      cost,
      observe(state: LatencyState, { latencyMs }: RequestResult): void {
        // A bad measurement (NaN, negative) must not poison the estimate: it counts as the minimum.
        const sample = Number.isFinite(latencyMs) ? Math.max(latencyMs, MIN_SAMPLE_MS) : MIN_SAMPLE_MS;
        const at = now();
        if (!state.sampled || sample > state.estimateMs) {
          state.estimateMs = sample;
        } else {
          const keep = Math.exp(-Math.max(at - state.sampledAt, 0) / decay);
          state.estimateMs += (sample - state.estimateMs) * (1 - keep);
        }
        state.sampled = true;
        state.sampledAt = at;
      },
    }, runtime);
  },
});
