/**
 * The agent's copy of the traffic routes attached to the services this sidecar calls (one
 * watch for all of them), kept current like the endpoint tables: each route parsed with the
 * same schema the control plane validated it with, and per service the routes attached to
 * it, as one frozen array that stays the same object while they do not change (so the data
 * plane recompiles a service's routes only when they change). The last known routes stay
 * in force while the control plane is away. A stored route this sidecar cannot parse (a
 * newer control plane's field) is left out and logged, never half-applied.
 */
import type { Logger } from 'pino';
import type { ControlPlaneClient } from '../client/control-plane.js';
import type { RouteEvent, RouteSpec, StoredRoute } from '../core/route.js';
import { messageOf } from '../errors.js';
import { parseRoute } from '../proxy/routing/schema.js';
import { FeedState, type Feed } from './follower.js';

const NONE: readonly RouteSpec[] = Object.freeze([]);

export class UpstreamRoutes {
  readonly services: readonly string[];
  readonly sync: FeedState;
  #revision = 0;
  readonly #routes = new Map<string, RouteSpec>();
  #byService = new Map<string, readonly RouteSpec[]>();
  readonly #onChange: () => void;
  readonly #logger: Logger;

  constructor(services: readonly string[], onChange: () => void, logger: Logger) {
    this.services = services;
    this.#onChange = onChange;
    this.#logger = logger;
    this.sync = new FeedState(onChange);
  }

  get revision(): number {
    return this.#revision;
  }

  /** The routes attached to `service`, in name order. */
  of(service: string): readonly RouteSpec[] {
    return this.#byService.get(service) ?? NONE;
  }

  #parse(route: StoredRoute): RouteSpec | undefined {
    try {
      const spec = parseRoute(route.spec);
      return spec.parentRefs.some((p) => this.services.includes(p.name)) ? spec : undefined;
    } catch (err) {
      this.#logger.warn({ route: route.name, revision: route.revision, err: messageOf(err) }, 'a traffic route from the control plane is not valid here: left out');
      return undefined;
    }
  }

  /** Replace them all with a listing read at `revision`. */
  replace(routes: readonly StoredRoute[], revision: number): void {
    this.#routes.clear();
    for (const route of routes) {
      const spec = this.#parse(route);
      if (spec !== undefined) this.#routes.set(route.name, spec);
    }
    this.#revision = revision;
    this.#rebuild();
  }

  /** Apply one watch event; events at or below the revision were seen already. */
  apply(event: RouteEvent): void {
    if (event.revision <= this.#revision) return;
    this.#revision = event.revision;
    const spec = event.type === 'put' ? this.#parse(event.route) : undefined;
    if (spec === undefined) {
      if (!this.#routes.delete(event.name)) return;
    } else {
      this.#routes.set(event.name, spec);
    }
    this.#rebuild();
  }

  #rebuild(): void {
    const next = new Map<string, readonly RouteSpec[]>();
    for (const service of this.services) {
      const attached = [...this.#routes.values()].filter((r) => r.parentRefs.some((p) => p.name === service)).sort((a, b) => a.name.localeCompare(b.name));
      const previous = this.#byService.get(service) ?? NONE;
      const same = previous.length === attached.length && previous.every((r, i) => r === attached[i]);
      next.set(service, same ? previous : Object.freeze(attached));
    }
    this.#byService = next;
    this.#onChange();
  }
}

/** The upstreams' traffic routes as a Feed. */
export function routesFeed(client: ControlPlaneClient, routes: UpstreamRoutes): Feed {
  return {
    get state() { return routes.sync.value; },
    set state(state) { routes.sync.value = state; },
    async resync() {
      const listing = await client.trafficRoutes(routes.services);
      routes.replace(listing.routes, listing.revision);
      return listing.revision;
    },
    follow: (revision, signal) => client.watchTrafficRoutes({ services: routes.services, after: revision, signal }, (event) => routes.apply(event)),
    describe: () => ({ services: routes.services, routesRevision: routes.revision }),
    messages: {
      resynced: 'control plane back: traffic routes resynced',
      lost: 'lost the control plane: keeping the last known traffic routes until it is back',
    },
  };
}
