/** The control plane's security pieces, put together: the local CA, tokens and sessions, who is calling, the issuer. */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { KvStore } from '../store/types.js';
import { LocalCertificateAuthority } from './ca/local.js';
import { CertificateIssuer } from './ca/issuer.js';
import { DEFAULT_TRUST_DOMAIN } from './spiffe.js';
import { Authenticator } from './access/authenticator.js';
import { AdminToken } from './tokens/admin-token.js';
import { JoinTokens } from './tokens/join-tokens.js';
import { SessionTokens } from './tokens/sessions.js';

export const DEFAULT_MAX_CERT_LIFETIME_MS = 24 * 3_600_000;

export interface SecurityOptions {
  readonly trustDomain?: string;
  /** A root to start with (the contents of --ca-cert and --ca-key). */
  readonly givenRoot?: { readonly certificatePem: string; readonly keyPem: string };
  /** Longest workload certificate lifetime (default 24 h); also the rotation's overlap step. */
  readonly maxCertLifetimeMs?: number;
  /** The key-encryption key of the root keys in the store: TRELLIS_CA_KEK's value, or --ca-kek-file (default: `<data-dir>/ca/kek`). */
  readonly kek?: { readonly value?: string; readonly file?: string };
  /** Other trust domains whose workloads this mesh's sidecars accept (federation); by default none. */
  readonly federatedTrustDomains?: readonly string[];
  /** The clock of tokens, sessions and certificates (default: the real one). */
  readonly clock?: Clock;
}

export interface Security {
  readonly ca: LocalCertificateAuthority;
  readonly tokens: JoinTokens;
  readonly issuer: CertificateIssuer;
  readonly admin: AdminToken;
  readonly sessions: SessionTokens;
  readonly authenticator: Authenticator;
  /** The admin token, on the first start only: to be shown once. */
  readonly createdAdminToken: string | undefined;
}

export async function startSecurity(options: SecurityOptions & { store: KvStore; dataDir: string; logger: Logger }): Promise<Security> {
  const ca = await LocalCertificateAuthority.open({
    store: options.store,
    dataDir: options.dataDir,
    trustDomain: options.trustDomain ?? DEFAULT_TRUST_DOMAIN,
    maxLifetimeMs: options.maxCertLifetimeMs ?? DEFAULT_MAX_CERT_LIFETIME_MS,
    logger: options.logger,
    ...(options.givenRoot === undefined ? {} : { given: options.givenRoot }),
    ...(options.kek === undefined ? {} : { kek: options.kek }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const tokens = new JoinTokens(options.store, options.clock);
  const { admin, created } = await AdminToken.open(options.store, options.dataDir);
  const sessions = new SessionTokens(options.store, options.clock);
  const authenticator = new Authenticator(admin, tokens, sessions);
  return { ca, tokens, sessions, authenticator, issuer: new CertificateIssuer(ca, authenticator, sessions, options.logger, options.federatedTrustDomains ?? [], options.clock), admin, createdAdminToken: created };
}
