/** Who may make a call: the bearer token of a request, and the admin-only guard for routes. */
import type { FastifyRequest } from 'fastify';
import type { AdminToken } from '../../security/tokens/admin-token.js';

/** The token in `Authorization: Bearer …`; '' for a malformed header, undefined for none. */
export function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match === null ? '' : match[1];
}

/** Route options for administrative calls: they need the admin token (401 otherwise). */
export function adminOnly(admin: AdminToken): { preHandler: (request: FastifyRequest) => Promise<void> } {
  return { preHandler: async (request) => admin.check(bearer(request)) };
}
