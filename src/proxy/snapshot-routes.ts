/**
 * The outbound routes of the current snapshot: per upstream service, its target (the
 * service and the policy in force) and its protocol's pipelines. Rebuilt for a service only
 * when a publish changed its policy. A request takes its route when it arrives and keeps
 * that target — so it runs under one policy from the first layer to the last, while
 * requests arriving after a publish get the new one. Listeners that hold a route of their
 * own (a per-upstream port) are re-pinned by the route's handler at entry.
 */
import type { Protocol } from './config.js';
import { serviceRoute, type Pipelines, type ServiceRoute } from './routes.js';
import { RouteTable } from './routing/table.js';
import type { Snapshot, SnapshotSource } from './snapshot.js';
import type { Handler, Target } from './types.js';

const NONE: readonly never[] = Object.freeze([]);

function sameRoutes(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a === b || (a.length === 0 && b.length === 0);
}

export interface RoutedUpstream {
  readonly service: string;
  readonly protocol: Protocol;
}

export class SnapshotRoutes implements ReadonlyMap<string, ServiceRoute> {
  #routes = new Map<string, ServiceRoute>();
  readonly #upstreams: readonly RoutedUpstream[];
  readonly #pipelines: Pipelines;
  readonly #unsubscribe: () => void;

  constructor(snapshots: SnapshotSource, upstreams: readonly RoutedUpstream[], pipelines: Pipelines) {
    this.#upstreams = upstreams;
    const pin = (handler: Handler): Handler => (request) => {
      const target = this.#routes.get(request.target.service)?.target;
      return handler(target === undefined || target === request.target ? request : { ...request, target });
    };
    this.#pipelines = { http: pin(pipelines.http), http2: pin(pipelines.http2), upgrade: pin(pipelines.upgrade) };
    this.#build(snapshots.current());
    this.#unsubscribe = snapshots.subscribe((next) => this.#build(next));
  }

  /** The target in force for `service` (undefined: not an upstream). */
  target(service: string): Target | undefined {
    return this.#routes.get(service)?.target;
  }

  #build(snapshot: Snapshot): void {
    const next = new Map<string, ServiceRoute>();
    for (const { service, protocol } of this.#upstreams) {
      const view = snapshot.upstreams.get(service);
      if (view === undefined) continue;
      const previous = this.#routes.get(service);
      const routes = previous?.target.routes;
      next.set(service, previous !== undefined && previous.target.policy === view.policy && sameRoutes(routes?.routes ?? NONE, view.routes ?? NONE) ? previous
        : serviceRoute(Object.freeze({
          direction: 'outbound', service, policy: view.policy,
          ...(view.routes === undefined || view.routes.length === 0 ? {} : { routes: new RouteTable(service, view.routes, view.policy) }),
        }), protocol, this.#pipelines));
    }
    this.#routes = next; // one assignment: a lookup sees the old table or the new one
  }

  close(): void {
    this.#unsubscribe();
  }

  get size(): number { return this.#routes.size; }
  get(service: string): ServiceRoute | undefined { return this.#routes.get(service); }
  has(service: string): boolean { return this.#routes.has(service); }
  keys(): MapIterator<string> { return this.#routes.keys(); }
  values(): MapIterator<ServiceRoute> { return this.#routes.values(); }
  entries(): MapIterator<[string, ServiceRoute]> { return this.#routes.entries(); }
  [Symbol.iterator](): MapIterator<[string, ServiceRoute]> { return this.#routes.entries(); }
  forEach(callback: (value: ServiceRoute, key: string, map: ReadonlyMap<string, ServiceRoute>) => void): void {
    for (const [key, value] of this.#routes) callback(value, key, this);
  }
}
