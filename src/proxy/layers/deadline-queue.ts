/**
 * Deadlines without a timer per request: what expires after the same duration is kept in
 * one intrusive doubly linked list (oldest deadline first), and each list has one timer,
 * armed for its head. Adding and removing an entry is O(1) and allocates nothing; when a
 * request finishes before its deadline (nearly always) it just leaves its list. The timer
 * fires when the head was due; it expires what is due and re-arms itself for the new head.
 * An empty list's timer is unref'd (it keeps no process alive) and, once it fires, stops.
 *
 * The clock is the caller's (performance.now in the sidecar, a mocked Date.now in tests),
 * and so are the timers (setTimeout, mocked alike).
 */

/** What a queue holds: the queue owns these four fields while the entry is in it. */
export interface DeadlineEntry {
  deadline: number;
  prev: DeadlineEntry | undefined;
  next: DeadlineEntry | undefined;
  list: DeadlineList | undefined;
  /** The deadline passed (the entry has left the queue already). */
  expire(): void;
}

export class DeadlineList {
  head: DeadlineEntry | undefined = undefined;
  tail: DeadlineEntry | undefined = undefined;
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** The deadline the timer was armed for. */
  #armedFor = Infinity;
  #refed = false;

  constructor(now: () => number) {
    this.#now = now;
  }

  insert(entry: DeadlineEntry): void {
    entry.list = this;
    const tail = this.tail;
    if (tail === undefined) {
      entry.prev = undefined;
      entry.next = undefined;
      this.head = entry;
      this.tail = entry;
    } else if (entry.deadline >= tail.deadline) {
      entry.prev = tail;
      entry.next = undefined;
      tail.next = entry;
      this.tail = entry;
    } else {
      // Earlier than the last one (a clock step, a request that waited before its deadline began): walk back.
      let after: DeadlineEntry | undefined = tail.prev;
      while (after !== undefined && after.deadline > entry.deadline) after = after.prev;
      const before = after === undefined ? this.head : after.next;
      entry.prev = after;
      entry.next = before;
      if (after === undefined) this.head = entry;
      else after.next = entry;
      if (before !== undefined) before.prev = entry;
    }
    if (!this.#refed) {
      this.#refed = true;
      this.#timer?.ref();
    }
    if (this.#timer === undefined || entry.deadline < this.#armedFor) this.#arm(entry.deadline);
  }

  remove(entry: DeadlineEntry): void {
    if (entry.list !== this) return;
    const { prev, next } = entry;
    if (prev === undefined) this.head = next;
    else prev.next = next;
    if (next === undefined) this.tail = prev;
    else next.prev = prev;
    entry.prev = undefined;
    entry.next = undefined;
    entry.list = undefined;
    if (this.head === undefined && this.#refed) {
      // Nothing waits: the timer stays armed (it will find nothing and stop) but holds no process up.
      this.#refed = false;
      this.#timer?.unref();
    }
  }

  #arm(deadline: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedFor = deadline;
    // Whole ms, rounded up: Node's timers have ms resolution, and fire no earlier than asked.
    this.#timer = setTimeout(this.#fire, Math.max(1, Math.ceil(deadline - this.#now())));
    if (!this.#refed) this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const now = this.#now();
    let entry = this.head;
    while (entry !== undefined && entry.deadline <= now) {
      this.remove(entry);
      entry.expire();
      entry = this.head;
    }
    if (entry !== undefined) this.#arm(entry.deadline);
  };
}

/** Lists by duration: entries of one duration join the same list, in deadline order. */
export class DeadlineQueue {
  readonly #now: () => number;
  readonly #lists = new Map<number, DeadlineList>();

  constructor(now: () => number) {
    this.#now = now;
  }

  /** `entry` expires `remainingMs` from now; `durationMs` names its list (the configured timeout). */
  add(entry: DeadlineEntry, durationMs: number, remainingMs: number): void {
    let list = this.#lists.get(durationMs);
    if (list === undefined) this.#lists.set(durationMs, (list = new DeadlineList(this.#now)));
    entry.deadline = this.#now() + remainingMs;
    list.insert(entry);
  }

  remove(entry: DeadlineEntry): void {
    entry.list?.remove(entry);
  }
}
