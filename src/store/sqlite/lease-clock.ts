/**
 * Lease deadlines, kept in memory only.
 *
 * Keep-alives are the hot path of the store (every healthy instance heartbeats), so renewing a
 * lease must not touch the disk: the database stores a lease's TTL, and its deadline lives
 * here. Like etcd when a new leader takes over, a store that (re)opens gives every persisted
 * lease a full fresh TTL, so restarting the control plane never expires a healthy instance.
 *
 * Deadlines are grouped in slots of `slotMs` so that finding the expired leases costs time
 * in proportion to the slots that are due, not to the number of leases, and renewing is O(1).
 */
import type { LeaseId } from '../types.js';

export interface LeaseDeadline {
  readonly ttlMs: number;
  /** On the clock given to the LeaseClock. */
  readonly expiresAt: number;
}

interface Entry {
  ttlMs: number;
  expiresAt: number;
  slot: number;
}

export class LeaseClock {
  readonly #now: () => number;
  readonly #slotMs: number;
  readonly #leases = new Map<LeaseId, Entry>();
  /** Slot number (floor(expiresAt / slotMs)) → leases whose deadline falls in it. */
  readonly #slots = new Map<number, Set<LeaseId>>();

  constructor(now: () => number, slotMs: number) {
    this.#now = now;
    this.#slotMs = slotMs;
  }

  /** Number of leases tracked, including expired ones not yet revoked. */
  get size(): number {
    return this.#leases.size;
  }

  /** Start tracking a lease with a deadline of now + ttlMs (+ graceMs, this first time only). */
  add(id: LeaseId, ttlMs: number, graceMs = 0): void {
    const entry: Entry = { ttlMs, expiresAt: 0, slot: Number.NaN };
    this.#leases.set(id, entry);
    this.#renew(id, entry, graceMs);
  }

  /** Whether the lease is tracked, expired or not. */
  has(id: LeaseId): boolean {
    return this.#leases.has(id);
  }

  /** The lease, if it is tracked and its deadline has not passed. */
  live(id: LeaseId): LeaseDeadline | undefined {
    const entry = this.#leases.get(id);
    return entry !== undefined && entry.expiresAt > this.#now() ? entry : undefined;
  }

  /** Move a live lease's deadline to now + TTL; undefined if it is unknown or expired. */
  renew(id: LeaseId): LeaseDeadline | undefined {
    const entry = this.#leases.get(id);
    if (entry === undefined || entry.expiresAt <= this.#now()) return undefined;
    this.#renew(id, entry);
    return entry;
  }

  /** Whole milliseconds until the deadline (rounded up: a live lease never shows 0). */
  remainingMs(lease: LeaseDeadline): number {
    return Math.max(0, Math.ceil(lease.expiresAt - this.#now()));
  }

  /** Stop tracking a lease (after it was revoked). */
  delete(id: LeaseId): void {
    const entry = this.#leases.get(id);
    if (entry === undefined) return;
    this.#unslot(id, entry);
    this.#leases.delete(id);
  }

  /** Every tracked lease whose deadline has passed. They stay tracked until deleted. */
  expired(): LeaseId[] {
    const now = this.#now();
    const dueSlot = Math.floor(now / this.#slotMs);
    const expired: LeaseId[] = [];
    for (const [slot, ids] of this.#slots) {
      if (slot > dueSlot) continue;
      for (const id of ids) {
        const entry = this.#leases.get(id);
        if (entry !== undefined && entry.expiresAt <= now) expired.push(id);
      }
    }
    return expired;
  }

  #renew(id: LeaseId, entry: Entry, graceMs = 0): void {
    entry.expiresAt = this.#now() + entry.ttlMs + graceMs;
    const slot = Math.floor(entry.expiresAt / this.#slotMs);
    if (slot === entry.slot) return;
    this.#unslot(id, entry);
    entry.slot = slot;
    const ids = this.#slots.get(slot);
    if (ids === undefined) this.#slots.set(slot, new Set([id]));
    else ids.add(id);
  }

  #unslot(id: LeaseId, entry: Entry): void {
    const ids = this.#slots.get(entry.slot);
    if (ids === undefined) return;
    ids.delete(id);
    if (ids.size === 0) this.#slots.delete(entry.slot);
  }
}
