/**
 * Weighted random choice over the live endpoints, exact even when some are
 * excluded: O(|skip| + log n) per draw, no retries, no per-draw allocation.
 */
export class WeightedSampler {
  /** ends[i] = sum of weights[0..i]; endpoint i owns [ends[i-1], ends[i]). */
  private readonly ends: Float64Array;
  private readonly weights: Float64Array;

  constructor(weights: readonly number[]) {
    this.weights = Float64Array.from(weights);
    this.ends = new Float64Array(weights.length);
    let sum = 0;
    weights.forEach((weight, i) => {
      sum += weight;
      this.ends[i] = sum;
    });
  }

  get size(): number {
    return this.weights.length;
  }

  /**
   * Draw an index with probability proportional to its weight, never one in `skip`.
   * @param skip indices to leave out, ascending; at least one index must remain.
   */
  draw(random: () => number, skip: readonly number[]): number {
    const n = this.weights.length;
    let remaining = n === 0 ? 0 : this.ends[n - 1];
    for (const s of skip) remaining -= this.weights[s];
    // Draw in the weight that remains, then step over the skipped intervals that lie below.
    let u = random() * remaining;
    for (const s of skip) {
      if (u < this.start(s)) break;
      u += this.weights[s];
    }
    const index = this.indexAt(u);
    // Floating-point rounding with fractional weights can land on a boundary; step off it.
    return skip.length > 0 && skip.includes(index) ? this.nextNotIn(skip, index) : index;
  }

  private start(i: number): number {
    return i === 0 ? 0 : this.ends[i - 1];
  }

  /** The first i with ends[i] > u (the last index if rounding pushed u to the total). */
  private indexAt(u: number): number {
    let lo = 0;
    let hi = this.ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private nextNotIn(skip: readonly number[], from: number): number {
    const n = this.weights.length;
    for (let step = 1; step < n; step++) {
      const i = (from + step) % n;
      if (!skip.includes(i)) return i;
    }
    return from;
  }
}
