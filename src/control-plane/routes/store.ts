/**
 * Traffic routes in the store, one key each: `/config/routes/<name>` → the route as written
 * (JSON), validated whole first with the schema every sidecar parses it with
 * (src/proxy/routing/schema.ts); an apply of several validates all of them before writing
 * any, so bad input stores nothing, and writes them in one transaction (one revision). A write reports the overlaps it leaves: a match that
 * another route of the same service also has (the route whose name sorts first takes those
 * requests). Watches carry only the routes attached to the services a sidecar calls.
 */
import { ErrorCodes, TrellisError } from '../../errors.js';
import { ROUTE_FIELDS, type RouteEvent, type RouteSpec, type StoredRoute } from '../../core/route.js';
import { findOverlaps, parseRoute, type RouteOverlap } from '../../proxy/routing/schema.js';
import type { KvStore, Watcher } from '../../store/types.js';
import { ConfigKindStore, type ConfigKind, type ConfigWatchListener } from '../../store/config-kind.js';

export const ROUTES_PREFIX = '/config/routes/';

const ROUTE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function routeKey(name: string): string {
  return `${ROUTES_PREFIX}${name}`;
}

export type RouteWatchListener = ConfigWatchListener<RouteEvent>;

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Traffic routes as a config kind. */
export const ROUTE_KIND: ConfigKind<RouteSpec, StoredRoute, 'name', 'route'> = Object.freeze({
  noun: 'route',
  prefix: ROUTES_PREFIX,
  fields: ROUTE_FIELDS,
  listField: 'routes',
  example: '{"name":"orders-split","parentRefs":[{"name":"orders"}],"rules":[…]}',
  // One transaction (etcd's default limit is 128 operations): every sidecar sees the whole apply at one revision (a match moved from one route to another never shows twice or not at all).
  maxApply: 128,
  transaction: true,
  parse: (raw: unknown, field: string) => parseRoute(raw, field),
  nameOf: (spec: RouteSpec) => spec.name,
  checkName(name: string): void {
    if (!ROUTE_NAME.test(name)) throw new TrellisError(ErrorCodes.VALIDATION, `a route name is a DNS label such as orders-canary (got ${JSON.stringify(name).slice(0, 80)})`, { field: 'name' });
  },
  notFound: (name: string) => new TrellisError(ErrorCodes.TRAFFIC_ROUTE_NOT_FOUND, `there is no traffic route ${JSON.stringify(name)}: see \`trellis route list\``, { field: 'name' }),
  encode: (_spec: RouteSpec, raw: unknown) => JSON.stringify(raw),
  decode: (name: string, value: string, revision: number): StoredRoute => Object.freeze({ name, spec: Object.freeze(JSON.parse(value) as Record<string, unknown>), revision }),
});

/** The parsed form of a stored route; a route stored by a newer version that this one cannot read counts as attached to nothing. */
function specOf(route: StoredRoute): RouteSpec | undefined {
  try {
    return parseRoute(route.spec);
  } catch {
    return undefined;
  }
}

/** Whether a route names one of `services` as a parent (of any kind: a gateway's name counts too). */
export function attachedTo(route: StoredRoute, services: ReadonlySet<string>): boolean {
  const parents = route.spec['parentRefs'];
  return Array.isArray(parents) && parents.some((p) => isMap(p) && typeof p['name'] === 'string' && services.has(p['name']));
}

export class RouteStore {
  readonly #items: ConfigKindStore<RouteSpec, StoredRoute, 'name', 'route'>;

  constructor(store: KvStore) {
    this.#items = new ConfigKindStore(store, ROUTE_KIND);
  }

  /** Validate every route, then write them all: bad input writes nothing. */
  async apply(body: unknown): Promise<{ routes: Array<{ route: StoredRoute; created: boolean }>; overlaps: RouteOverlap[]; revision: number }> {
    const { written, revision } = await this.#items.applyAll(body);
    const specs = written.map((w) => w.item);
    const services = new Set(specs.flatMap((s) => s.parentRefs.map((p) => p.name)));
    const names = new Set(specs.map((s) => s.name));
    const overlaps = await this.overlaps(services);
    return {
      routes: written.map((w) => ({ route: w.stored, created: w.created })),
      overlaps: overlaps.filter((o) => names.has(o.wins.split(' ')[0] ?? '') || names.has(o.shadowed.split(' ')[0] ?? '')),
      revision,
    };
  }

  /** The overlaps among the routes attached to `services`. */
  async overlaps(services: ReadonlySet<string>): Promise<RouteOverlap[]> {
    const { routes } = await this.list(services);
    const specs = routes.map(specOf).filter((s): s is RouteSpec => s !== undefined);
    return findOverlaps(specs).filter((o) => services.has(o.service));
  }

  get(name: string): Promise<StoredRoute> {
    return this.#items.get(name);
  }

  /** Every route, or those attached to one of `services`, by name. */
  async list(services?: ReadonlySet<string>): Promise<{ routes: StoredRoute[]; revision: number }> {
    const { items, revision } = await this.#items.list(services === undefined ? undefined : (r) => attachedTo(r, services));
    return { routes: items, revision };
  }

  delete(name: string): Promise<{ revision: number }> {
    return this.#items.delete(name);
  }

  /**
   * Changes after `afterRevision` to the routes attached to `services` (every route when
   * undefined). A route rewritten to no longer name a watched service arrives as a delete,
   * so that a follower drops it; deletes of any route are passed on (a follower ignores names it does not hold).
   */
  watch(options: { afterRevision: number; services?: ReadonlySet<string> }, listener: RouteWatchListener): Promise<Watcher> {
    const { services } = options;
    return this.#items.watch(options.afterRevision, services === undefined ? {} : { item: (r) => attachedTo(r, services) }, listener);
  }
}
