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
import { ROUTE_FIELDS, type RouteEvent, type RouteSpec, type StoredRoute } from '../core/route.js';
import { messageOf } from '../errors.js';
import { parseRoute } from '../proxy/routing/schema.js';
import { ConfigCopy, feedOf } from './config-copy.js';
import type { Feed, FeedState } from './follower.js';

const NONE: readonly RouteSpec[] = Object.freeze([]);

export class UpstreamRoutes {
  readonly services: readonly string[];
  readonly #copy: ConfigCopy<StoredRoute, RouteSpec, 'name', 'route'>;
  #byService = new Map<string, readonly RouteSpec[]>();
  readonly #onChange: () => void;
  readonly #logger: Logger;

  constructor(services: readonly string[], onChange: () => void, logger: Logger) {
    this.services = services;
    this.#onChange = onChange;
    this.#logger = logger;
    this.#copy = new ConfigCopy(ROUTE_FIELDS, { accept: (route) => this.#parse(route), onChange: () => this.#rebuild() }, onChange);
  }

  get sync(): FeedState {
    return this.#copy.sync;
  }

  get revision(): number {
    return this.#copy.revision;
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
    this.#copy.replace(routes, revision);
  }

  /** Apply one watch event; events at or below the revision were seen already. */
  apply(event: RouteEvent): void {
    this.#copy.apply(event);
  }

  #rebuild(): void {
    const next = new Map<string, readonly RouteSpec[]>();
    const all = [...this.#copy.values()];
    for (const service of this.services) {
      const attached = all.filter((r) => r.parentRefs.some((p) => p.name === service)).sort((a, b) => a.name.localeCompare(b.name));
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
  return feedOf(routes.sync, {
    read: () => client.trafficRoutes(routes.services),
    load: (listing, revision) => routes.replace(listing.routes, revision),
    follow: (revision, signal) => client.watchTrafficRoutes({ services: routes.services, after: revision, signal }, (event) => routes.apply(event)),
    describe: () => ({ services: routes.services, routesRevision: routes.revision }),
    messages: {
      resynced: 'control plane back: traffic routes resynced',
      lost: 'lost the control plane: keeping the last known traffic routes until it is back',
    },
  });
}
