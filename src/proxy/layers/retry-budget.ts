/**
 * Linkerd's retry budget (tower's `TpsBudget`): within a sliding window of 10 s, retries
 * may add at most `ratio` × the requests seen in the window, plus `minPerSecond` × 10 s
 * so that a service with little traffic can still retry. Retries do not count as requests.
 * When an upstream is failing hard, this caps the extra load retries add (20% by default)
 * instead of multiplying it by the attempt count.
 *
 * The window is 10 one-second slots; an expired slot is cleared when it is next used.
 */
export const BUDGET_WINDOW_MS = 10_000;
const SLOTS = 10;
const SLOT_MS = BUDGET_WINDOW_MS / SLOTS;

export interface BudgetSettings {
  /** Share of requests that retries may add (0.2 = 20%). */
  readonly budgetRatio: number;
  readonly minRetriesPerSecond: number;
}

export class RetryBudget {
  /** The slot number (time / SLOT_MS) each position holds. */
  readonly #slot = new Float64Array(SLOTS).fill(-Infinity);
  readonly #requests = new Float64Array(SLOTS);
  readonly #retries = new Float64Array(SLOTS);

  /** Count a request (not a retry). */
  deposit(nowMs: number): void {
    this.#requests[this.#position(nowMs)] += 1;
  }

  /** Take one retry if the budget allows it; false when it is exhausted. */
  withdraw(nowMs: number, settings: BudgetSettings): boolean {
    const position = this.#position(nowMs);
    // The epsilon keeps 0.2 × 5 from landing just below 1.
    if (this.available(nowMs, settings) < 1 - 1e-9) return false;
    this.#retries[position] += 1;
    return true;
  }

  /** Retries the budget still allows in the current window (may be fractional). */
  available(nowMs: number, { budgetRatio, minRetriesPerSecond }: BudgetSettings): number {
    const current = Math.floor(nowMs / SLOT_MS);
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < SLOTS; i++) {
      if (this.#slot[i] > current - SLOTS) {
        requests += this.#requests[i];
        retries += this.#retries[i];
      }
    }
    return budgetRatio * requests + minRetriesPerSecond * (BUDGET_WINDOW_MS / 1000) - retries;
  }

  #position(nowMs: number): number {
    const slot = Math.floor(nowMs / SLOT_MS);
    const position = ((slot % SLOTS) + SLOTS) % SLOTS;
    if (this.#slot[position] !== slot) {
      this.#slot[position] = slot;
      this.#requests[position] = 0;
      this.#retries[position] = 0;
    }
    return position;
  }
}
