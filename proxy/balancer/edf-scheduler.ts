/**
 * Earliest-deadline-first scheduling, as in Envoy's EdfScheduler: entry i falls due every
 * 1/weight, so over any window it is chosen in proportion to its weight, and the entries
 * interleave rather than come in runs (unlike repeating each entry `weight` times).
 * Ties go to the entry scheduled first, so a schedule built from the same weights always
 * yields the same sequence.
 *
 * The heap lives in typed arrays and a pick sifts the rescheduled root down in place, so a
 * pick is O(log n) and allocates nothing.
 */
export class EdfScheduler {
  /** Entry indexes forming a binary min-heap on (deadline, order). */
  private readonly heap: Uint32Array;
  private readonly deadline: Float64Array;
  private readonly order: Float64Array;
  private readonly weights: Float64Array;
  /** Times each entry was picked through `pick()`. */
  private readonly picked: Float64Array;
  private nextOrder: number;

  /** `weights` must be non-empty and positive. */
  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    this.heap = new Uint32Array(n);
    this.deadline = new Float64Array(n);
    this.order = new Float64Array(n);
    this.weights = Float64Array.from(weights);
    this.picked = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      this.heap[i] = i;
      this.deadline[i] = 1 / this.weights[i];
      this.order[i] = i;
    }
    this.nextOrder = n;
    for (let i = (n >>> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /**
   * The entry due next, rescheduled 1/weight later with the weight it was built with.
   * After k picks an entry is due at (k + 1) / weight, computed afresh rather than summed:
   * summing 1/3 three times falls short of 1 and would reorder what should tie.
   */
  pick(): number {
    const entry = this.heap[0];
    this.deadline[entry] = (++this.picked[entry] + 1) / this.weights[entry];
    this.order[entry] = this.nextOrder++;
    this.siftDown(0);
    return entry;
  }

  /** The entry due next, left in place: the caller decides its next weight and calls `reschedule`. */
  peek(): number {
    return this.heap[0];
  }

  /**
   * Moves the entry due next to 1/weight after its deadline: Envoy's pickAndAdd, for weights
   * that change between picks (least request). Not to be mixed with `pick()`.
   */
  reschedule(weight: number): void {
    const entry = this.heap[0];
    this.deadline[entry] = this.deadline[entry] + 1 / weight;
    this.order[entry] = this.nextOrder++;
    this.siftDown(0);
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const n = heap.length;
    const entry = heap[start];
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.before(heap[right], heap[left]) ? right : left;
      if (!this.before(heap[child], entry)) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = entry;
  }

  private before(a: number, b: number): boolean {
    const da = this.deadline[a];
    const db = this.deadline[b];
    return da < db || (da === db && this.order[a] < this.order[b]);
  }
}
