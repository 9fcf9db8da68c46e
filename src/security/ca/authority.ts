/**
 * What the control plane needs from a certificate authority (Consul's CA Provider):
 * sign a workload's CSR for an identity the caller was already allowed, hand out the
 * current trust bundle, and rotate the root. The local CA (./local.ts) is one
 * implementation; an external one (Vault's PKI engine) would be another.
 */

export interface SignRequest {
  /** The PKCS#10 request, PEM. Its public key goes in the certificate; its SAN must be `spiffeId`. */
  readonly csrPem: string;
  /** The identity the caller was allowed (checked before the CA is asked). */
  readonly spiffeId: string;
  /** Asked lifetime; the CA caps it at its maximum. */
  readonly lifetimeMs: number;
}

export interface SignedCertificate {
  /** The workload certificate, PEM. */
  readonly certificatePem: string;
  readonly spiffeId: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The roots a workload must trust now (PEM), the signing one included. */
  readonly trustBundle: readonly string[];
}

export interface RootInfo {
  readonly id: string;
  /** SHA-256 fingerprint of the certificate, hex. */
  readonly fingerprint: string;
  /** active: signs; pending: trusted, signs from `signingFrom`; retiring: trusted until `retireAt`, no longer signs. */
  readonly state: 'active' | 'pending' | 'retiring';
  readonly notAfter: string;
  readonly signingFrom: string;
  readonly retireAt: string | null;
}

export interface CaStatus {
  readonly trustDomain: string;
  readonly maxLifetimeMs: number;
  readonly roots: readonly RootInfo[];
}

export interface CertificateAuthority {
  readonly trustDomain: string;
  /** The longest lifetime it signs. */
  readonly maxLifetimeMs: number;
  sign(request: SignRequest): Promise<SignedCertificate>;
  /** The roots to trust now, PEM. */
  trustBundle(): Promise<readonly string[]>;
  /**
   * Add a new root. It is trusted at once and signs once every workload has renewed (one
   * maximum lifetime later); the old one is trusted until every certificate it signed has
   * expired (one more lifetime), then retired. No connection breaks on the way.
   */
  rotate(): Promise<CaStatus>;
  status(): Promise<CaStatus>;
}
