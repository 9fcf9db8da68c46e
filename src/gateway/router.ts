/**
 * The gateway's routing: the routes attached to it (`parentRefs: [{ kind: Gateway, name }]`)
 * by Host, then by path, method, headers and query with the mesh's own route table
 * (src/proxy/routing/table.ts, the same precedence). A route's `hostnames` are exact
 * (`api.example.com`) or one-label wildcards (`*.example.com`); a route without hostnames
 * takes any host. The tables of the request's exact host come first, then its wildcard,
 * then the routes for any host. A rule's backend (by weight) names the mesh service.
 */
import type { RouteSpec } from '../core/route.js';
import { DEFAULT_UPSTREAM_POLICY } from '../proxy/policy.js';
import { chooseBackend, RouteTable, type RouteSelection } from '../proxy/routing/table.js';

const ANY = '';

export type GatewayRoute =
  | { readonly ok: true; readonly service: string; readonly selection: RouteSelection }
  | { readonly ok: false; readonly reason: string };

/** Host without port, lower case, no trailing dot. */
export function bareHost(host: string | undefined): string {
  if (host === undefined) return '';
  const h = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return h.toLowerCase().replace(/\.$/, '');
}

export class GatewayRouter {
  readonly gateway: string;
  readonly routes: readonly RouteSpec[];
  readonly #tables = new Map<string, RouteTable>();

  constructor(gateway: string, routes: readonly RouteSpec[]) {
    this.gateway = gateway;
    this.routes = routes;
    const byHost = new Map<string, RouteSpec[]>();
    for (const route of routes) {
      if (!route.parentRefs.some((p) => p.kind === 'Gateway' && p.name === gateway)) continue;
      for (const host of route.hostnames ?? [ANY]) {
        const list = byHost.get(host) ?? [];
        list.push(route);
        byHost.set(host, list);
      }
    }
    for (const [host, list] of byHost) this.#tables.set(host, new RouteTable(gateway, list, DEFAULT_UPSTREAM_POLICY));
  }

  /** The hostnames routes answer for (`''`: any host). */
  get hostnames(): readonly string[] {
    return [...this.#tables.keys()];
  }

  /** The service a request goes to, or why none; `draw` (uniform in [0, 1)) picks among weighted backends. */
  route(host: string | undefined, method: string, path: string, headers: Readonly<Record<string, string | string[]>>, draw: number): GatewayRoute {
    const name = bareHost(host);
    const dot = name.indexOf('.');
    const candidates = [name, ...(dot > 0 ? [`*${name.slice(dot)}`] : []), ANY];
    let hostKnown = false;
    for (const key of candidates) {
      const table = this.#tables.get(key);
      if (table === undefined) continue;
      hostKnown = true;
      const selection = table.match(method, path, headers);
      if (selection === undefined) continue;
      const backend = chooseBackend(selection.rule, draw);
      if (backend === undefined) continue;
      return { ok: true, service: backend.service, selection };
    }
    return hostKnown
      ? { ok: false, reason: `no route of gateway ${this.gateway} for ${method} ${path.split('?')[0] ?? path} on host ${JSON.stringify(name)}: see \`trellis route list\`` }
      : { ok: false, reason: `gateway ${this.gateway} has no route for host ${JSON.stringify(name)}${this.#tables.size === 0 ? ' (no route is attached to it yet)' : ''}: attach one with parentRefs [{ kind: Gateway, name: ${this.gateway} }] and hostnames [${name}]` };
  }
}
