/** Building pick results, including the in-flight accounting behind `done`. */
import type { Endpoint, NoPick, NoPickReason, Picked, RequestResult } from './types.js';

const noPicks: Readonly<Record<NoPickReason, NoPick>> = {
  'empty': Object.freeze({ kind: 'none', reason: 'empty' }),
  'all-drained': Object.freeze({ kind: 'none', reason: 'all-drained' }),
  'all-excluded': Object.freeze({ kind: 'none', reason: 'all-excluded' }),
};

/** The (shared, frozen) result for "nothing to pick". */
export function none(reason: NoPickReason): NoPick {
  return noPicks[reason];
}

function ignore(): void {}

/** A pick for a strategy that does not learn from results. */
export function picked(endpoint: Endpoint): Picked {
  return { kind: 'pick', endpoint, done: ignore };
}

/** Per-endpoint state of strategies that count requests in flight. */
export interface InFlight {
  inFlight: number;
}

/**
 * A pick that counts as in flight on `state` until `done` is called; `done` also
 * hands the result to `observe`. Only the first call to `done` counts.
 */
export function trackedPick<S extends InFlight>(
  endpoint: Endpoint,
  state: S,
  observe?: (state: S, result: RequestResult) => void,
): Picked {
  state.inFlight += 1;
  let finished = false;
  return {
    kind: 'pick',
    endpoint,
    done(result: RequestResult): void {
      if (finished) return;
      finished = true;
      state.inFlight -= 1;
      observe?.(state, result);
    },
  };
}
