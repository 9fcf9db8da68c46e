/**
 * Traffic routes (issue 15): the shape of the Gateway API's HTTPRoute attached to a service
 * (GAMMA: the parent is the service its callers reach), as validated by
 * src/proxy/routing/schema.ts and stored one key each under `/config/routes/<name>`.
 * Every caller's sidecar applies the routes of the services it calls on its outbound side
 * (docs/traffic-policy.md).
 */
import type { ConfigEvent, StoredConfig } from './config-kind.js';

/** Durations are whole milliseconds once validated. */
export interface RouteSpec {
  readonly name: string;
  /** The services this route is attached to (`kind: Service`), or the gateways (`kind: Gateway`, never both). */
  readonly parentRefs: readonly { readonly kind: 'Service' | 'Gateway'; readonly name: string }[];
  /** Gateway routes: the Host names it answers for (`api.example.com`, `*.example.com`); absent: every host. */
  readonly hostnames?: readonly string[];
  /** Named instance-label selectors: `v2: { version: v2 }`. */
  readonly subsets: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly rules: readonly RouteRule[];
}

export type PathMatch = { readonly type: 'Exact' | 'PathPrefix'; readonly value: string };
export interface ValueMatch { readonly type: 'Exact' | 'RegularExpression'; readonly name: string; readonly value: string }

export interface RouteMatch {
  readonly path: PathMatch;
  readonly method?: string;
  /** Header names lower-case. */
  readonly headers: readonly ValueMatch[];
  readonly queryParams: readonly ValueMatch[];
}

export interface BackendRef {
  /** The parent service (a route splits the traffic of the service it is attached to); for a gateway route, the mesh service to send to. */
  readonly name?: string | undefined;
  /** A subset of `subsets`; absent = every instance of the service. */
  readonly subset?: string | undefined;
  readonly weight: number;
}

export interface HeaderModifier {
  readonly set: readonly { readonly name: string; readonly value: string }[];
  readonly add: readonly { readonly name: string; readonly value: string }[];
  readonly remove: readonly string[];
}

export type RouteFilter =
  | { readonly type: 'RequestHeaderModifier'; readonly requestHeaderModifier: HeaderModifier }
  | { readonly type: 'ResponseHeaderModifier'; readonly responseHeaderModifier: HeaderModifier }
  | { readonly type: 'RequestMirror'; readonly requestMirror: { readonly backendRef: { readonly name: string; readonly subset?: string | undefined }; readonly percent: number } }
  | { readonly type: 'Fault'; readonly fault: { readonly delay?: { readonly durationMs: number; readonly percent: number } | undefined; readonly abort?: { readonly status: number; readonly percent: number } | undefined } }
  | { readonly type: 'LocalRateLimit'; readonly localRateLimit: { readonly requestsPerSecond: number; readonly burst: number; readonly perCaller: boolean } };

export interface RouteRule {
  /** At least one; a rule written without matches matches every request (prefix `/`). */
  readonly matches: readonly RouteMatch[];
  /** Absent: the whole service, as without a route. */
  readonly backendRefs: readonly BackendRef[];
  readonly filters: readonly RouteFilter[];
  /** `request`: the whole request (all attempts); `backendRequest`: one attempt. */
  readonly timeouts?: { readonly requestMs?: number; readonly backendRequestMs?: number };
  readonly retry?: { readonly attempts?: number; readonly codes?: readonly number[]; readonly backoffMs?: number };
}

/** A route as stored: as written (validated whole; readers parse it with the same schema), with the revision of its last write. */
export type StoredRoute = StoredConfig<'name', 'spec', Readonly<Record<string, unknown>>>;

/** The field names of route watch events. */
export const ROUTE_FIELDS = Object.freeze({ nameField: 'name', itemField: 'route' } as const);

/** A change to the routes a watcher follows. */
export type RouteEvent = ConfigEvent<'name', 'route', StoredRoute>;
