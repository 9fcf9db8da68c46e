/**
 * Per-service event counters of a layer (retries, budget exhausted, circuit overflows,
 * ejections…), kept as plain numbers so that a metrics exporter can read them later
 * without the layer knowing about metrics. One `Counters` per layer instance.
 */
export class Counters<Name extends string> {
  readonly names: readonly Name[];
  readonly #byService = new Map<string, Record<Name, number>>();

  constructor(names: readonly Name[]) {
    this.names = Object.freeze([...names]);
  }

  add(service: string, name: Name, by = 1): void {
    this.#row(service)[name] += by;
  }

  get(service: string, name: Name): number {
    return this.#byService.get(service)?.[name] ?? 0;
  }

  /** Sum over every service. */
  total(name: Name): number {
    let sum = 0;
    for (const row of this.#byService.values()) sum += row[name];
    return sum;
  }

  /** A copy: service → counter → value. */
  snapshot(): Record<string, Record<Name, number>> {
    const copy: Record<string, Record<Name, number>> = {};
    for (const [service, row] of this.#byService) copy[service] = { ...row };
    return copy;
  }

  #row(service: string): Record<Name, number> {
    let row = this.#byService.get(service);
    if (row === undefined) {
      row = Object.fromEntries(this.names.map((name) => [name, 0])) as Record<Name, number>;
      this.#byService.set(service, row);
    }
    return row;
  }
}
