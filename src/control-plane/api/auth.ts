/**
 * Every call needs a token (default deny): each route declares the access it needs in its
 * config (`{ config: { access: 'discovery' } }`), one onRequest hook authenticates the bearer
 * token and checks the access; a route that declares nothing needs the admin token. 401 says
 * how to get and pass a token, 403 names what the token allows.
 *
 * The dashboard cannot send headers from an EventSource: its read-only token is exchanged
 * once for an HttpOnly, SameSite=Strict cookie (dashboard-session.ts), honoured on GETs only.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { Authenticator } from '../../security/access/authenticator.js';
import { allows, describeAccess, describeAllowed, describePrincipal, type Access, type Principal } from '../../security/access/permissions.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The access a route needs; absent = admin. */
    access?: Access;
  }
  interface FastifyRequest {
    /** Who made the call (set by the auth hook; undefined on open routes). */
    principal: Principal | undefined;
  }
}

export const DASHBOARD_COOKIE = 'trellis_dashboard';

/** Route options that declare the access a route needs. */
export function access(needed: Access): { config: { access: Access } } {
  return { config: { access: needed } };
}

/** The token in `Authorization: Bearer …`; '' for a malformed header, undefined for none. */
export function bearer(request: Pick<FastifyRequest, 'headers'>): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match === null ? '' : match[1];
}

/** A cookie's value from the Cookie header, or undefined. */
export function cookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** The credential of a request: its bearer token, else (GET and HEAD only) the dashboard cookie. */
function credential(request: FastifyRequest): string | undefined {
  const given = bearer(request);
  if (given !== undefined) return given;
  return request.method === 'GET' || request.method === 'HEAD' ? cookie(request, DASHBOARD_COOKIE) : undefined;
}

export function requireTokens(app: FastifyInstance, authenticator: Authenticator): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request) => {
    // No route: any valid token may learn that (then 404); a route without a declaration is the admin's.
    const known = request.routeOptions.url !== undefined;
    const needed = known ? request.routeOptions.config.access ?? 'admin' : 'open';
    if (known && (needed === 'open' || needed === 'ca-sign')) return;
    const principal = await authenticator.authenticate(credential(request));
    const service = (request.params as { service?: string } | undefined)?.service;
    if (!allows(principal, needed, service)) {
      throw new TrellisError(ErrorCodes.PERMISSION_DENIED,
        `${describePrincipal(principal)} may not ${describeAccess(needed, service)}: it allows ${describeAllowed(principal)}`,
        { details: principal.kind === 'admin' ? {} : { tokenId: principal.tokenId } });
    }
    request.principal = principal;
  });
}
