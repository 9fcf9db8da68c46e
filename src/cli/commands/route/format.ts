/** How traffic routes read in a terminal (the verbs share it). */
import type { RouteOverlapReport } from '../../../client/control-plane.js';
import type { StoredRoute } from '../../../core/route.js';
import { parseRoute } from '../../../proxy/routing/schema.js';
import { formatTable } from '../../output.js';

/** `rules: 2 · v1 90 / v2 10 · Fault`: one line per route. */
export function describeRoute(route: StoredRoute): { parents: string; rules: string } {
  try {
    const spec = parseRoute(route.spec);
    const rules = spec.rules.map((rule, i) => {
      const backends = rule.backendRefs.length === 0 ? 'all' : rule.backendRefs.map((b) => `${b.subset ?? 'all'} ${b.weight}`).join('/');
      const filters = rule.filters.map((f) => f.type).join('+');
      return `${i}: ${backends}${filters === '' ? '' : ` [${filters}]`}`;
    });
    return { parents: spec.parentRefs.map((p) => p.name).join(','), rules: rules.join('; ') };
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
