/**
 * Routes, for the `route` label of a sidecar's request metrics and its access log (as
 * Linkerd's ServiceProfile / HTTPRoute routes): a service declares a short list of named
 * routes, each a method (optional) and a path prefix; a request takes the name of the first
 * route it matches, else {@link DEFAULT_ROUTE}. The label is never the raw path, so its
 * cardinality is bounded by the declarations.
 *
 *     routes:
 *       - { name: get-order, method: GET, path: /orders/ }
 *       - { name: create-order, method: POST, path: /orders }
 *       - { name: health, path: /healthz }
 *
 * The config schema lives here (one schema for the sidecar config and the mesh file).
 */
import { z } from 'zod';

/** The route of a request that matches no declared route (Linkerd's name for it). */
export const DEFAULT_ROUTE = '[default]';

/** Routes per service, at most: the label stays small. */
export const MAX_ROUTES = 100;

const routeSchema = z.object({
  name: z.string({ invalid_type_error: 'name must be a route name such as get-order', required_error: 'name is required: a route name such as get-order' })
    .regex(/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/, 'name must be lower-case letters, digits, ".", "_" and "-" (at most 63), such as get-order'),
  method: z.string({ invalid_type_error: 'method must be an HTTP method such as GET' })
    .regex(/^[A-Z]{1,16}$/, 'method must be an upper-case HTTP method such as GET or POST').optional(),
  path: z.string({ invalid_type_error: 'path must be a path prefix such as /orders/', required_error: 'path is required: a path prefix such as /orders/' })
    .regex(/^\/[\x21-\x7e]*$/, 'path must be a path prefix starting with "/", such as /orders/'),
}, { invalid_type_error: 'each route must be a map such as { name: get-order, method: GET, path: /orders/ }' }).strict();

export const routesSchema = z.array(routeSchema, { invalid_type_error: 'routes must be a list such as [{ name: get-order, method: GET, path: /orders/ }]' })
  .max(MAX_ROUTES, `at most ${MAX_ROUTES} routes per service: group paths under shorter prefixes`)
  .superRefine((routes, ctx) => {
    const seen = new Map<string, number>();
    routes.forEach((route, index) => {
      const previous = seen.get(route.name);
      if (previous !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [index, 'name'], message: `route ${JSON.stringify(route.name)} is declared twice (also routes.${previous}): give each route its own name` });
      seen.set(route.name, index);
    });
  })
  .default([]);

export type RouteDeclaration = z.output<typeof routeSchema>;

/** A service's routes, matched in order. */
export interface RouteTable {
  /** The route name of a request: the first declared route whose method and path prefix match, else [default]. */
  match(method: string, path: string): string;
}

const NO_ROUTES: RouteTable = Object.freeze({ match: () => DEFAULT_ROUTE });

export function routeTable(routes: readonly RouteDeclaration[]): RouteTable {
  if (routes.length === 0) return NO_ROUTES;
  const names = routes.map((r) => r.name);
  const methods = routes.map((r) => r.method);
  const prefixes = routes.map((r) => r.path);
  return Object.freeze({
    match(method: string, path: string): string {
      for (let i = 0; i < prefixes.length; i += 1) {
        const wanted = methods[i];
        if ((wanted === undefined || wanted === method) && path.startsWith(prefixes[i])) return names[i];
      }
      return DEFAULT_ROUTE;
    },
  });
}

/** The route tables of one sidecar: its own service's (inbound) and each upstream's (outbound). */
export interface SidecarRoutes {
  readonly inbound: RouteTable;
  outbound(service: string): RouteTable;
}

export function sidecarRoutes(own: readonly RouteDeclaration[], upstreams: ReadonlyMap<string, readonly RouteDeclaration[]>): SidecarRoutes {
  const inbound = routeTable(own);
  const tables = new Map<string, RouteTable>();
  for (const [service, routes] of upstreams) tables.set(service, routeTable(routes));
  return Object.freeze({ inbound, outbound: (service: string) => tables.get(service) ?? NO_ROUTES });
}
