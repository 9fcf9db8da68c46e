/**
 * POST /v1/sessions — a sidecar exchanges its join token, or its current session, for a new
 * session scoped to its service (how a sidecar without certificates, mTLS off, keeps its access
 * past its join token's hour; with certificates, every signing answer carries one).
 * POST /v1/dashboard/session — the dashboard page exchanges the read-only token from its URL's
 * fragment for an HttpOnly, SameSite=Strict cookie; GET tells the page whether it has one.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { describePrincipal } from '../../security/access/permissions.js';
import type { SessionTokens } from '../../security/tokens/sessions.js';
import { durationField, parseOrThrow } from '../../util/validation.js';
import { DASHBOARD_COOKIE, access, bearer } from './auth.js';

const DAY_MS = 24 * 3_600_000;
const sessionSchema = z.object({
  lifetime: durationField('lifetime', 1_000, DAY_MS).default('24h'),
}, { invalid_type_error: 'the body must be a JSON object such as {"lifetime":"24h"}' }).strict();

export function sessionRoutes(app: FastifyInstance, sessions: SessionTokens): void {
  app.post('/v1/sessions', access('session'), async (request, reply) => {
    const { lifetime } = parseOrThrow(sessionSchema, request.body ?? {});
    const principal = request.principal;
    if (principal?.kind !== 'sidecar') throw new TrellisError(ErrorCodes.INTERNAL, 'no sidecar principal on a session request');
    const grant = await sessions.issue({ service: principal.service, namespace: principal.namespace }, new Date(Date.now() + lifetime));
    return reply.code(201).header('cache-control', 'no-store').send(grant);
  });

  app.post('/v1/dashboard/session', access('observe'), async (request, reply) => {
    const principal = request.principal;
    const token = bearer(request);
    if (principal?.kind !== 'read' || token === undefined) {
      throw new TrellisError(ErrorCodes.PERMISSION_DENIED, `the dashboard takes a read-only token, not ${principal === undefined ? 'this one' : describePrincipal(principal)}: \`trellis dashboard\` prints a URL with one`);
    }
    const maxAge = Math.max(0, Math.floor((Date.parse(principal.expiresAt) - Date.now()) / 1_000));
    const secure = request.protocol === 'https' ? '; Secure' : '';
    return reply.header('set-cookie', `${DASHBOARD_COOKIE}=${encodeURIComponent(token)}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure}`)
      .header('cache-control', 'no-store')
      .send({ session: describePrincipal(principal), expiresAt: principal.expiresAt });
  });

  app.get('/v1/dashboard/session', access('observe'), async (request) => ({
    session: request.principal === undefined ? null : describePrincipal(request.principal),
  }));
}
