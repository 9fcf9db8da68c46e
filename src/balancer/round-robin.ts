/**
 * `round-robin`: endpoints take turns, as in Envoy. With equal weights this is a
 * plain rotation; with unequal weights each endpoint gets turns in proportion to
 * its weight, interleaved, via an earliest-deadline-first schedule: an endpoint of
 * weight w is due every 1/w units of virtual time, and the next pick goes to the
 * endpoint due first. O(log n) per pick.
 *
 * Each new endpoint starts at a random point of its first period, so that many
 * proxies starting together do not all send their first request to the same place.
 * An excluded endpoint loses the turn it would have had.
 */
import { EndpointSet, type Entry } from './endpoint-set.js';
import { MinHeap } from './heap.js';
import { none, picked } from './result.js';
import { defineStrategy } from './strategy.js';
import type { Endpoint, PickContext, PickResult } from './types.js';

interface Turn {
  /** Virtual time of the endpoint's next turn. */
  due: number;
}

type TurnEntry = Entry<Turn>;

function dueFirst(a: TurnEntry, b: TurnEntry): boolean {
  return a.state.due < b.state.due || (a.state.due === b.state.due && a.slot < b.slot);
}

function advance(entry: TurnEntry): void {
  entry.state.due += 1 / entry.endpoint.weight;
}

export const roundRobin = defineStrategy({
  name: 'round-robin',
  summary: 'Endpoints take turns; weights give proportionally more turns (earliest-deadline-first, like Envoy).',
  config: {},
  create(_config, { random }) {
    const endpoints = new EndpointSet<Turn>(() => ({ due: Number.NaN }));
    const schedule = new MinHeap<TurnEntry>(dueFirst);
    /** Virtual time of the last turn taken. */
    let now = 0;

    return {
      update(list: readonly Endpoint[]): void {
        endpoints.update(list);
        for (const entry of endpoints.live) {
          // New endpoints, and ones back from being drained, join within one period from now
          // (rather than catching up on the turns they missed).
          if (!(entry.state.due >= now)) entry.state.due = now + random() / entry.endpoint.weight;
        }
        schedule.reset(endpoints.live);
      },

      pick(context: PickContext = {}): PickResult {
        const { exclude } = context;
        const reason = endpoints.unavailable(exclude);
        if (reason !== undefined) return none(reason);
        let skipped: TurnEntry[] | undefined;
        // unavailable() returned undefined, so a non-excluded entry is in the schedule.
        let entry = schedule.pop() as TurnEntry;
        while (exclude !== undefined && exclude.has(entry.endpoint.id)) {
          (skipped ??= []).push(entry);
          entry = schedule.pop() as TurnEntry;
        }
        now = entry.state.due;
        advance(entry);
        schedule.push(entry);
        for (const s of skipped ?? []) {
          advance(s);
          schedule.push(s);
        }
        return picked(entry.endpoint);
      },
    };
  },
});
