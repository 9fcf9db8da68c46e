/**
 * The control plane's side of "a sidecar earns a certificate": decide whether a request
 * may have the identity its CSR names, then have the CA sign it.
 *
 *   first certificate: a join token (Authorization: Bearer) that allows exactly that identity
 *                      (or a session of that service)
 *   renewal:           the current certificate (from a root still trusted, not expired, same
 *                      identity) and an ECDSA signature over the new CSR by its key
 *
 * Every answer also carries a new sidecar session for the identity's service, valid until the
 * certificate expires (src/security/tokens/sessions.ts): the sidecar's API credential.
 *
 * Every refusal has its own code, a warning line that names the identity asked for and the
 * token's id (never its secret), and a counter.
 */
import { X509Certificate as NodeX509, createVerify } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { systemClock, type Clock } from '../../core/clock.js';
import { ErrorCodes, TrellisError, isTrellisError } from '../../errors.js';
import { durationField, parseOrThrow } from '../../util/validation.js';
import type { Authenticator } from '../access/authenticator.js';
import { describePrincipal } from '../access/permissions.js';
import { identityFromAltNames, parseSpiffeId, spiffeId } from '../spiffe.js';
import type { SessionGrant, SessionTokens } from '../tokens/sessions.js';
import type { CertificateAuthority, SignedCertificate } from './authority.js';
import { parseCsr } from './csr.js';

const DAY_MS = 24 * 3_600_000;

const signSchema = z.object({
  csr: z.string({ required_error: 'csr is required: a PEM certificate request', invalid_type_error: 'csr must be a PEM string' }),
  lifetime: durationField('lifetime', 1_000, 365 * DAY_MS).default('24h'),
  renew: z.object({
    certificate: z.string({ invalid_type_error: 'renew.certificate must be the current certificate, PEM' }),
    signature: z.string({ invalid_type_error: 'renew.signature must be base64' }),
  }, { invalid_type_error: 'renew must be { certificate, signature }' }).strict().optional(),
}, { invalid_type_error: 'the body must be a JSON object such as {"csr":"-----BEGIN CERTIFICATE REQUEST-----…"}' }).strict();

/** The body of `POST /v1/ca/sign`: a CSR, its lifetime, and for a renewal the proof. */
export interface SignBody {
  readonly csr: string;
  readonly lifetime?: number;
  readonly renew?: { readonly certificate: string; readonly signature: string };
}

export interface IssuedCertificate {
  readonly certificate: string;
  readonly spiffeId: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly trustDomain: string;
  /** Other trust domains whose workloads the sidecar accepts (federation); usually none. */
  readonly federatedTrustDomains: readonly string[];
  readonly trustBundle: readonly string[];
  /** A sidecar session for the identity's service, until the certificate expires: shown in this answer only. */
  readonly session: SessionGrant;
}

/** Refusals by code, issued certificates, for the status and metrics. */
export class IssuerStats {
  issued = 0;
  renewed = 0;
  readonly refused: Record<string, number> = {};
}

export class CertificateIssuer {
  readonly stats = new IssuerStats();
  readonly #ca: CertificateAuthority;
  readonly #authenticator: Authenticator;
  readonly #sessions: SessionTokens;
  readonly #logger: Logger;
  /** Trust domains federated with this mesh: sent with every certificate. */
  readonly federatedTrustDomains: readonly string[];

  readonly #clock: Clock;

  /** Expiries (of a certificate offered as renewal proof) are read on `clock`. */
  constructor(ca: CertificateAuthority, authenticator: Authenticator, sessions: SessionTokens, logger: Logger, federatedTrustDomains: readonly string[] = [], clock: Clock = systemClock) {
    this.federatedTrustDomains = Object.freeze([...federatedTrustDomains]);
    this.#clock = clock;
    this.#ca = ca;
    this.#authenticator = authenticator;
    this.#sessions = sessions;
    this.#logger = logger;
  }

  /** `bearer`: the join token from the Authorization header, if any. */
  async issue(body: unknown, bearer: string | undefined): Promise<IssuedCertificate> {
    let asked: string | undefined;
    try {
      const request = parseOrThrow(signSchema, body);
      const { spiffeId: requested } = await parseCsr(request.csr);
      asked = requested;
      if (request.renew !== undefined) await this.#checkRenewal(request.renew, request.csr, requested);
      else await this.#checkToken(bearer, requested);
      const signed: SignedCertificate = await this.#ca.sign({ csrPem: request.csr, spiffeId: requested, lifetimeMs: request.lifetime });
      if (request.renew === undefined) this.stats.issued += 1;
      else this.stats.renewed += 1;
      const identity = parseSpiffeId(signed.spiffeId);
      if (identity === undefined) throw new TrellisError(ErrorCodes.CA, `the CA signed ${signed.spiffeId}, which is not a SPIFFE ID of ours`);
      const session = await this.#sessions.issue(identity, signed.notAfter);
      this.#logger.info({ spiffeId: requested, notAfter: signed.notAfter.toISOString(), renewal: request.renew !== undefined, sessionId: session.id }, 'CA: certificate issued');
      return {
        session,
        certificate: signed.certificatePem,
        spiffeId: signed.spiffeId,
        notBefore: signed.notBefore.toISOString(),
        notAfter: signed.notAfter.toISOString(),
        trustDomain: this.#ca.trustDomain,
        federatedTrustDomains: this.federatedTrustDomains,
        trustBundle: signed.trustBundle,
      };
    } catch (err) {
      if (isTrellisError(err) && err.status < 500) {
        this.stats.refused[err.code] = (this.stats.refused[err.code] ?? 0) + 1;
        this.#logger.warn({ code: err.code, spiffeId: asked ?? null, tokenId: err.details?.['tokenId'] ?? null, reason: err.message }, 'CA: certificate request refused');
      }
      throw err;
    }
  }

  async #checkToken(bearer: string | undefined, requested: string): Promise<void> {
    if (bearer === undefined || bearer === '') {
      throw new TrellisError(ErrorCodes.TOKEN_MISSING, 'a join token is required: send "Authorization: Bearer <token>" (make one with `trellis token create --service NAME`)');
    }
    const principal = await this.#authenticator.authenticate(bearer);
    if (principal.kind !== 'sidecar') {
      throw new TrellisError(ErrorCodes.IDENTITY_NOT_ALLOWED, `${describePrincipal(principal)} earns no certificate: a sidecar asks with a join token (\`trellis token create --service NAME\`)`,
        principal.kind === 'read' ? { details: { tokenId: principal.tokenId } } : {});
    }
    const allowed = spiffeId(this.#ca.trustDomain, principal.namespace, principal.service);
    if (requested !== allowed) {
      throw new TrellisError(ErrorCodes.IDENTITY_NOT_ALLOWED,
        `${describePrincipal(principal)} allows ${allowed}, not ${requested}: make a token for that service with \`trellis token create --service NAME\``,
        { details: { tokenId: principal.tokenId } });
    }
  }

  async #checkRenewal(renew: { certificate: string; signature: string }, csrPem: string, requested: string): Promise<void> {
    const refuse = (why: string): TrellisError => new TrellisError(ErrorCodes.TOKEN_INVALID, `renewal refused: ${why}; a sidecar that cannot renew starts again with a join token`);
    let current: NodeX509;
    try {
      current = new NodeX509(renew.certificate);
    } catch {
      throw refuse('renew.certificate is not a readable PEM certificate');
    }
    const now = this.#clock.now();
    if (Date.parse(current.validTo) <= now) throw refuse(`the current certificate expired at ${new Date(current.validTo).toISOString()}`);
    const roots = (await this.#ca.trustBundle()).map((pem) => new NodeX509(pem));
    if (!roots.some((root) => current.checkIssued(root) && current.verify(root.publicKey))) throw refuse('the current certificate was not signed by a root this CA trusts');
    const identity = identityFromAltNames(current.subjectAltName);
    if (identity?.spiffeId !== requested) throw refuse(`the current certificate is for ${identity?.spiffeId ?? 'no SPIFFE ID'}, the CSR asks for ${requested}`);
    const verifier = createVerify('sha256');
    verifier.update(csrPem);
    if (!verifier.verify(current.publicKey, renew.signature, 'base64')) throw refuse('renew.signature is not a signature of the CSR by the current certificate\'s key');
  }
}
