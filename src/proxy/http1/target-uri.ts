/**
 * The request target of an HTTP/1 request line (RFC 9112 §3.2): origin-form (`/x?y`) or
 * absolute-form (`http://payments/x`, as clients send to an HTTP proxy). The authority of
 * an absolute-form target takes the place of the Host header.
 */
export interface RequestTarget {
  /** `payments`, `payments:8080`; undefined for origin-form. */
  readonly authority: string | undefined;
  /** Origin-form path and query. */
  readonly path: string;
}

/** Undefined when the target is neither origin-form nor an `http://` absolute-form URI. */
export function parseRequestTarget(url: string): RequestTarget | undefined {
  if (url.charCodeAt(0) === 47 /* / */) return { authority: undefined, path: url };
  if (url.length < 8 || url.slice(0, 7).toLowerCase() !== 'http://') return undefined;
  const slash = url.indexOf('/', 7);
  const query = url.indexOf('?', 7);
  const end = slash === -1 ? (query === -1 ? url.length : query) : (query === -1 ? slash : Math.min(slash, query));
  let authority = url.slice(7, end);
  const at = authority.lastIndexOf('@');
  if (at !== -1) authority = authority.slice(at + 1);
  if (authority === '') return undefined;
  const rest = url.slice(end);
  return { authority, path: rest === '' ? '/' : rest.charCodeAt(0) === 63 /* ? */ ? `/${rest}` : rest };
}

/** The host of an authority or Host header, lower-case, without port or IPv6 brackets. */
export function hostOf(authority: string): string {
  if (authority.charCodeAt(0) === 91 /* [ */) {
    const close = authority.indexOf(']');
    return (close === -1 ? authority.slice(1) : authority.slice(1, close)).toLowerCase();
  }
  const colon = authority.indexOf(':');
  return (colon === -1 ? authority : authority.slice(0, colon)).toLowerCase();
}
