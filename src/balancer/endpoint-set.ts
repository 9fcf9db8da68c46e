/**
 * The endpoint bookkeeping every strategy shares: validating an update, carrying
 * per-endpoint state across updates by id, splitting off drained endpoints, and
 * deciding when nothing can be picked.
 */
import { ErrorCodes, TrellisError } from '../errors.js';
import type { Endpoint, NoPickReason } from './types.js';

/** An endpoint together with the strategy's state for it. */
export interface Entry<S> {
  readonly endpoint: Endpoint;
  /** Created once per id and kept for as long as the id stays in the set. */
  readonly state: S;
  /** Position in {@link EndpointSet.live}; -1 while the endpoint is drained. */
  readonly slot: number;
}

const NO_SLOTS: readonly number[] = Object.freeze([]);

export class EndpointSet<S = undefined> {
  private byId = new Map<string, Entry<S>>();
  private liveEntries: readonly Entry<S>[] = [];
  private readonly initialState: (endpoint: Endpoint) => S;

  /** @param initialState state for an endpoint id seen for the first time. */
  constructor(initialState: (endpoint: Endpoint) => S) {
    this.initialState = initialState;
  }

  /** Endpoints with weight > 0, in the order of the last update. Index = {@link Entry.slot}. */
  get live(): readonly Entry<S>[] {
    return this.liveEntries;
  }

  /**
   * Replace the set. Validates everything before changing anything, so a rejected
   * update leaves the previous set in place.
   */
  update(endpoints: readonly Endpoint[]): void {
    validate(endpoints);
    const byId = new Map<string, Entry<S>>();
    const live: Entry<S>[] = [];
    for (const endpoint of endpoints) {
      const state = this.byId.get(endpoint.id)?.state ?? this.initialState(endpoint);
      const slot = endpoint.weight > 0 ? live.length : -1;
      const entry: Entry<S> = { endpoint, state, slot };
      byId.set(endpoint.id, entry);
      if (slot >= 0) live.push(entry);
    }
    this.byId = byId;
    this.liveEntries = live;
  }

  /**
   * Why nothing can be picked under `exclude`, or undefined when at least one live
   * endpoint is not excluded. O(|exclude|), O(1) in the common cases.
   */
  unavailable(exclude: ReadonlySet<string> | undefined): NoPickReason | undefined {
    const liveCount = this.liveEntries.length;
    if (liveCount === 0) return this.byId.size === 0 ? 'empty' : 'all-drained';
    if (exclude === undefined || exclude.size < liveCount) return undefined;
    let excluded = 0;
    for (const id of exclude) {
      if ((this.byId.get(id)?.slot ?? -1) >= 0) excluded += 1;
    }
    return excluded === liveCount ? 'all-excluded' : undefined;
  }

  /** The live slots of the excluded ids, ascending (the form {@link WeightedSampler.draw} takes). */
  excludedSlots(exclude: ReadonlySet<string> | undefined): readonly number[] {
    if (exclude === undefined || exclude.size === 0) return NO_SLOTS;
    const slots: number[] = [];
    for (const id of exclude) {
      const slot = this.byId.get(id)?.slot ?? -1;
      if (slot >= 0) slots.push(slot);
    }
    return slots.length === 0 ? NO_SLOTS : slots.sort((a, b) => a - b);
  }
}

function validate(endpoints: readonly Endpoint[]): void {
  const seen = new Set<string>();
  endpoints.forEach((endpoint, index) => {
    if (typeof endpoint.id !== 'string' || endpoint.id === '') {
      throw invalid(index, 'id', 'endpoint id must be a non-empty string');
    }
    if (seen.has(endpoint.id)) {
      throw invalid(index, 'id', `endpoint id ${JSON.stringify(endpoint.id)} appears more than once: ids must be unique within a set`);
    }
    seen.add(endpoint.id);
    if (typeof endpoint.weight !== 'number' || !Number.isFinite(endpoint.weight) || endpoint.weight < 0) {
      throw invalid(index, 'weight', `weight of endpoint ${JSON.stringify(endpoint.id)} must be a finite number ≥ 0 (0 = drained), got ${String(endpoint.weight)}`);
    }
  });
}

function invalid(index: number, key: string, message: string): TrellisError {
  return new TrellisError(ErrorCodes.VALIDATION, message, { field: `endpoints.${index}.${key}` });
}
