/**
 * /v1/tokens and /v1/ca — join tokens, certificate signing, the trust bundle, root rotation.
 * A join token is in one answer only: the one to the POST that made it.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { access, bearer } from './auth.js';
import type { CertificateAuthority } from '../../security/ca/authority.js';
import type { CertificateIssuer } from '../../security/ca/issuer.js';
import type { Authenticator } from '../../security/access/authenticator.js';
import type { JoinTokens } from '../../security/tokens/join-tokens.js';
import type { SessionTokens } from '../../security/tokens/sessions.js';

export interface SecurityRouteOptions {
  readonly ca: CertificateAuthority;
  readonly issuer: CertificateIssuer;
  readonly tokens: JoinTokens;
  readonly sessions: SessionTokens;
  readonly authenticator: Authenticator;
}

export function securityRoutes(app: FastifyInstance, options: SecurityRouteOptions): void {
  const { ca, issuer, tokens } = options;
  /** Administrative calls need the admin token. */
  const adminCall = access('admin');

  app.post('/v1/tokens', adminCall, async (request, reply) => reply.code(201).send(await tokens.create(request.body ?? {})));
  app.get('/v1/tokens', adminCall, async () => ({ tokens: await tokens.list() }));
  app.delete<{ Params: { id: string } }>('/v1/tokens/:id', adminCall, async (request) => {
    if (!(await tokens.revoke(request.params.id))) {
      throw new TrellisError(ErrorCodes.NOT_FOUND, `no join token ${JSON.stringify(request.params.id)} (see \`trellis token list\`)`);
    }
    return { revoked: request.params.id };
  });

  app.post('/v1/ca/sign', access('ca-sign'), async (request) => issuer.issue(request.body, bearer(request)));
  app.get('/v1/ca/bundle', access('discovery'), async () => ({ trustDomain: ca.trustDomain, federatedTrustDomains: issuer.federatedTrustDomains, roots: await ca.trustBundle() }));
  app.get('/v1/ca', access('observe'), async () => ({ ...(await ca.status()), issued: issuer.stats.issued, renewed: issuer.stats.renewed, refused: issuer.stats.refused }));
  app.post('/v1/ca/rotate', adminCall, async () => ca.rotate());
}
