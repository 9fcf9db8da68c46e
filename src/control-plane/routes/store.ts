/**
 * Traffic routes in the store, one key each: `/config/routes/<name>` → the route as written
 * (JSON), validated whole first with the schema every sidecar parses it with
 * (src/proxy/routing/schema.ts); an apply of several validates all of them before writing
 * any, so bad input stores nothing, and writes them in one transaction (one revision). A write reports the overlaps it leaves: a match that
 * another route of the same service also has (the route whose name sorts first takes those
 * requests). Watches carry only the routes attached to the services a sidecar calls.
 */
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { RouteEvent, RouteSpec, StoredRoute } from '../../core/route.js';
import { findOverlaps, parseRoute, type RouteOverlap } from '../../proxy/routing/schema.js';
import type { KeyValue, KvStore, Watcher, WatchEvent } from '../../store/types.js';

export const ROUTES_PREFIX = '/config/routes/';

/** At most this many routes in one apply (one transaction: etcd's default limit is 128 operations). */
const MAX_APPLY = 128;
const ROUTE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function routeKey(name: string): string {
  return `${ROUTES_PREFIX}${name}`;
}

export interface RouteWatchListener {
  onEvent(event: RouteEvent): void;
  onError(error: Error): void;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function decode(name: string, value: string, revision: number): StoredRoute {
  return Object.freeze({ name, spec: Object.freeze(JSON.parse(value) as Record<string, unknown>), revision });
}

function decodeKv(kv: KeyValue): StoredRoute {
  return decode(kv.key.slice(ROUTES_PREFIX.length), kv.value, kv.modRevision);
}

function checkName(name: string): void {
  if (!ROUTE_NAME.test(name)) throw new TrellisError(ErrorCodes.VALIDATION, `a route name is a DNS label such as orders-canary (got ${JSON.stringify(name).slice(0, 80)})`, { field: 'name' });
}

function notFound(name: string): TrellisError {
  return new TrellisError(ErrorCodes.TRAFFIC_ROUTE_NOT_FOUND, `there is no traffic route ${JSON.stringify(name)}: see \`trellis route list\``, { field: 'name' });
}

/** The parsed form of a stored route; a route stored by a newer version that this one cannot read counts as attached to nothing. */
function specOf(route: StoredRoute): RouteSpec | undefined {
  try {
    return parseRoute(route.spec);
  } catch {
    return undefined;
  }
}

function attachedTo(route: StoredRoute, services: ReadonlySet<string>): boolean {
  const parents = route.spec['parentRefs'];
  return Array.isArray(parents) && parents.some((p) => isMap(p) && typeof p['name'] === 'string' && services.has(p['name']));
}

export class RouteStore {
  readonly #store: KvStore;

  constructor(store: KvStore) {
    this.#store = store;
  }

  /** Validate every route, then write them all: bad input writes nothing. */
  async apply(body: unknown): Promise<{ routes: Array<{ route: StoredRoute; created: boolean }>; overlaps: RouteOverlap[]; revision: number }> {
    const raw = isMap(body) ? body['routes'] : undefined;
    if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_APPLY) {
      throw new TrellisError(ErrorCodes.VALIDATION, `routes must be a list of 1 to ${MAX_APPLY} routes, such as {"routes":[{"name":"orders-split","parentRefs":[{"name":"orders"}],"rules":[…]}]}`, { field: 'routes' });
    }
    const specs = raw.map((item, index) => parseRoute(item, `routes.${index}`));
    const seen = new Map<string, number>();
    for (const [index, spec] of specs.entries()) {
      const other = seen.get(spec.name);
      if (other !== undefined) throw new TrellisError(ErrorCodes.VALIDATION, `route ${JSON.stringify(spec.name)} appears twice (also routes.${other}): merge the two`, { field: `routes.${index}.name` });
      seen.set(spec.name, index);
    }
    // One transaction: every sidecar sees the whole apply at one revision (a match moved from one route to another never shows twice or not at all).
    const values = raw.map((item) => JSON.stringify(item));
    const { revision, prevKvs } = await this.#store.txn(specs.map((spec, index) => ({ type: 'put', key: routeKey(spec.name), value: values[index] ?? '' })));
    const results = specs.map((spec, index) => ({ route: decode(spec.name, values[index] ?? '', revision), created: prevKvs[index] === undefined }));
    const services = new Set(specs.flatMap((s) => s.parentRefs.map((p) => p.name)));
    const names = new Set(specs.map((s) => s.name));
    const overlaps = await this.overlaps(services);
    return { routes: results, overlaps: overlaps.filter((o) => names.has(o.wins.split(' ')[0] ?? '') || names.has(o.shadowed.split(' ')[0] ?? '')), revision };
  }

  /** The overlaps among the routes attached to `services`. */
  async overlaps(services: ReadonlySet<string>): Promise<RouteOverlap[]> {
    const { routes } = await this.list(services);
    const specs = routes.map(specOf).filter((s): s is RouteSpec => s !== undefined);
    return findOverlaps(specs).filter((o) => services.has(o.service));
  }

  async get(name: string): Promise<StoredRoute> {
    checkName(name);
    const { kv } = await this.#store.get(routeKey(name));
    if (kv === undefined) throw notFound(name);
    return decodeKv(kv);
  }

  /** Every route, or those attached to one of `services`, by name. */
  async list(services?: ReadonlySet<string>): Promise<{ routes: StoredRoute[]; revision: number }> {
    const { kvs, revision } = await this.#store.range(ROUTES_PREFIX);
    const all = kvs.map(decodeKv);
    return { routes: services === undefined ? all : all.filter((r) => attachedTo(r, services)), revision };
  }

  async delete(name: string): Promise<{ revision: number }> {
    checkName(name);
    const { deleted, revision } = await this.#store.delete(routeKey(name));
    if (deleted === 0) throw notFound(name);
    return { revision };
  }

  /**
   * Changes after `afterRevision` to the routes attached to `services` (every route when
   * undefined). A route rewritten to no longer name a watched service arrives as a delete,
   * so that a follower drops it; deletes of any route are passed on (a follower ignores names it does not hold).
   */
  watch(options: { afterRevision: number; services?: ReadonlySet<string> }, listener: RouteWatchListener): Promise<Watcher> {
    const { services } = options;
    return this.#store.watch(ROUTES_PREFIX, { afterRevision: options.afterRevision }, {
      onEvent: (e: WatchEvent) => {
        const name = e.key.slice(ROUTES_PREFIX.length);
        const route = e.value === undefined ? undefined : decode(name, e.value, e.revision);
        listener.onEvent(route === undefined || (services !== undefined && !attachedTo(route, services))
          ? Object.freeze({ revision: e.revision, type: 'delete', name })
          : Object.freeze({ revision: e.revision, type: 'put', name, route }));
      },
      onError: (err) => listener.onError(err),
    });
  }
}
