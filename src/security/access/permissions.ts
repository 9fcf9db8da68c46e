/**
 * Who may call what on the control plane's API (Consul's ACLs, default deny). Every route
 * declares the access it needs (src/control-plane/api/auth.ts); a route that declares none
 * needs the admin token. A principal is what a bearer token proves:
 *
 *   admin     the admin token: everything
 *   read      a read-only token: discovery and observation, no writes
 *   sidecar   a join token or a sidecar session, for one service: discovery, the instances
 *             and telemetry reports of that service, its certificates and sessions
 */
export type Access =
  /** No token: liveness, the Prometheus metrics, the dashboard's static page. */
  | 'open'
  /** The certificate authority's signing route decides itself (join token or proof of the current certificate). */
  | 'ca-sign'
  /** Read the registry, watch it, read and watch policies, the trust bundle. */
  | 'discovery'
  /** Golden metrics, checks, reports, the dashboard's data, CA status, policy explanations. */
  | 'observe'
  /** Register, heartbeat, deregister an instance of the route's :service. */
  | 'instance'
  /** Report telemetry for the route's :service. */
  | 'report'
  /** Exchange a sidecar token for a new session. */
  | 'session'
  /** Tokens, policy writes, CA rotation: the admin token only. */
  | 'admin';

export type Principal =
  | { readonly kind: 'admin' }
  | { readonly kind: 'read'; readonly tokenId: string; readonly expiresAt: string }
  | { readonly kind: 'sidecar'; readonly tokenId: string; readonly via: 'join' | 'session'; readonly service: string; readonly namespace: string };

const allowedTo: Readonly<Record<Principal['kind'], ReadonlySet<Access>>> = {
  admin: new Set<Access>(['discovery', 'observe', 'instance', 'report', 'admin']),
  read: new Set<Access>(['discovery', 'observe']),
  sidecar: new Set<Access>(['discovery', 'instance', 'report', 'session']),
};

/** Whether `principal` may make a call needing `access` (on `service`, for the scoped ones). */
export function allows(principal: Principal, access: Access, service: string | undefined): boolean {
  if (access === 'open' || access === 'ca-sign') return true;
  if (!allowedTo[principal.kind].has(access)) return false;
  if (principal.kind === 'sidecar' && (access === 'instance' || access === 'report')) return service === principal.service;
  return true;
}

/** "read-only token 9f3c…", for messages (never the secret). */
export function describePrincipal(principal: Principal): string {
  switch (principal.kind) {
    case 'admin': return 'the admin token';
    case 'read': return `read-only token ${principal.tokenId}`;
    case 'sidecar': return `${principal.via === 'join' ? 'join token' : 'sidecar session'} ${principal.tokenId} (service ${principal.namespace}/${principal.service})`;
  }
}

/** What a principal may do, in a sentence for a 403. */
export function describeAllowed(principal: Principal): string {
  switch (principal.kind) {
    case 'admin': return 'every call but opening a sidecar session (a sidecar starts with a join token)';
    case 'read': return 'reading the registry, policies, metrics, checks and the dashboard; no writes';
    case 'sidecar': return `reading and watching the registry and policies, registering, heartbeating and deregistering instances of ${principal.service}, reporting telemetry for ${principal.service}, and certificates and sessions for ${principal.service}`;
  }
}

/** What a call needing `access` is, for a 403. */
export function describeAccess(access: Access, service: string | undefined): string {
  switch (access) {
    case 'instance': return `change instances of ${service ?? 'this service'}`;
    case 'report': return `report telemetry for ${service ?? 'this service'}`;
    case 'session': return 'open a sidecar session (only join tokens and sidecar sessions can)';
    case 'admin': return 'make an administrative call (tokens, policy changes, CA rotation need the admin token)';
    case 'observe': return 'read metrics, checks, reports or the dashboard (a read-only token or the admin token can)';
    default: return 'make this call';
  }
}
