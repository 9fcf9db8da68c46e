/**
 * Path matching for rules. The request's path is normalised before matching, as Envoy
 * does with `normalize_path` and `merge_slashes`, so that `/%61dmin`, `//admin` or
 * `/x/../admin` cannot slip past a rule about `/admin`: the query is dropped,
 * percent-encoded unreserved characters are decoded (RFC 3986 §6.2.2.2), repeated slashes
 * merged and dot segments resolved. A prefix matches whole segments (Gateway API
 * PathPrefix): `/api` matches `/api`, `/api/` and `/api/v1`, not `/apis`.
 */

const UNRESERVED_ESCAPE = /%(4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|3[0-9]|2D|2E|5F|7E)/gi;

/** Whatever normalisation could change: an escape, a doubled slash, a dot segment. */
const NEEDS_WORK = /%|\/\/|\/\.\.?(?:\/|$)/;

export function normalizePath(raw: string): string {
  let end = raw.indexOf('?');
  const hash = raw.indexOf('#');
  if (hash !== -1 && (end === -1 || hash < end)) end = hash;
  let path = end === -1 ? raw : raw.slice(0, end);
  if (path.charCodeAt(0) === 47 /* / */ && !NEEDS_WORK.test(path)) return path;
  if (!path.startsWith('/')) path = `/${path}`;
  path = path.replace(UNRESERVED_ESCAPE, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  const out: string[] = [];
  const segments = path.split('/');
  for (const [index, segment] of segments.entries()) {
    if (index === 0) continue;
    const last = index === segments.length - 1;
    if (segment === '..') { out.pop(); if (last) out.push(''); continue; }
    if (segment === '.') { if (last) out.push(''); continue; }
    if (segment === '' && !last) continue;
    out.push(segment);
  }
  return `/${out.join('/')}`;
}

/** Whether normalised `path` is under `prefix` (whole segments; a prefix ending in `/` is plain). */
export function underPrefix(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  if (prefix.endsWith('/')) return path.startsWith(prefix);
  return path === prefix || path.startsWith(`${prefix}/`);
}
