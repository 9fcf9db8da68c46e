/** How traffic routes read in a terminal (the verbs share it). */
import type { RouteOverlapReport } from '../../../client/control-plane.js';
import type { StoredRoute } from '../../../core/route.js';
import { parseRoute } from '../../../proxy/routing/schema.js';
import { formatTable } from '../../output.js';

/** `rules: 2 · v1 90 / v2 10 · Fault`: one line per route. */
export function describeRoute(route: StoredRoute): { parents: string; rules: string } {
  try {
    const spec = parseRoute(route.spec);
    // A gateway route's backends are services; a service route's, its subsets.
    const gateway = spec.parentRefs.some((p) => p.kind === 'Gateway');
    const rules = spec.rules.map((rule, i) => {
      const backends = rule.backendRefs.length === 0 ? 'all' : rule.backendRefs.map((b) => `${(gateway ? b.name : b.subset) ?? 'all'} ${b.weight}`).join('/');
      const filters = rule.filters.map((f) => f.type).join('+');
      return `${i}: ${backends}${filters === '' ? '' : ` [${filters}]`}`;
    });
    const hosts = spec.hostnames === undefined ? '' : ` (${spec.hostnames.join(',')})`;
    return { parents: `${spec.parentRefs.map((p) => (p.kind === 'Gateway' ? `gateway/${p.name}` : p.name)).join(',')}${hosts}`, rules: rules.join('; ') };
  } catch {
    return { parents: '?', rules: '(not readable by this version)' };
  }
}

export function routesTable(routes: readonly StoredRoute[]): string {
  return formatTable(['ROUTE', 'SERVICE', 'RULES (backends weight [filters])', 'REVISION'], routes.map((r) => {
    const { parents, rules } = describeRoute(r);
    return [r.name, parents, rules, r.revision];
  }));
}

export function overlapLines(overlaps: readonly RouteOverlapReport[]): string {
  return overlaps.map((o) => `warning: ${o.shadowed} (service ${o.service}) has the same match as ${o.wins}, which takes those requests first`).join('\n');
}
