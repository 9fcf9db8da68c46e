/**
 * A sidecar's workload identity: its own ECDSA P-256 key pair (made here, never sent
 * anywhere), a CSR for `spiffe://<td>/ns/<ns>/svc/<service>`, and the certificate and
 * trust bundle the CA answers with. The first certificate is earned with the join token;
 * each renewal, at 70% of the certificate's life, uses a fresh key pair and proves the
 * current certificate (a signature over the new CSR by the current key), falling back to
 * the join token. Listeners (the inbound TLS server, the outbound connectors) are told of
 * every new certificate and use it for new connections; open ones carry on.
 */
import { createSign } from 'node:crypto';
import type { Logger } from 'pino';
import { delay, systemClock, type Clock, type Timer } from '../../core/clock.js';
import { ErrorCodes, TrellisError, isTrellisError, messageOf } from '../../errors.js';
import type { IssuedCertificate, SignBody } from '../ca/issuer.js';
import type { SessionGrant } from '../tokens/sessions.js';
import { makeCsr, type CsrResult } from './csr.js';
import { RENEW_AT } from './renewal.js';

/** When the next renewal's CSR is made, as a fraction of the certificate's life (renewal is at RENEW_AT). */
const PREPARE_AT = 0.4;
/** While the control plane is unreachable, the first certificate is asked for again this often. */
const FIRST_RETRY_MS = 500;

export interface WorkloadCertificate {
  readonly keyPem: string;
  readonly certificatePem: string;
  readonly trustBundle: readonly string[];
  readonly spiffeId: string;
  readonly trustDomain: string;
  /** Other trust domains whose workloads are accepted (federation, set on the control plane). */
  readonly federatedTrustDomains: readonly string[];
  readonly notAfter: Date;
}

/** What the identity needs of the control plane (src/client's ControlPlaneClient is one). */
export interface CertificateApi {
  caBundle(): Promise<{ trustDomain: string }>;
  signCertificate(body: SignBody, token?: string): Promise<IssuedCertificate>;
}

export interface IdentityOptions {
  readonly client: CertificateApi;
  readonly service: string;
  readonly namespace: string;
  /** The join token; undefined when none was given (then the start fails, naming how to give one). */
  readonly token: string | undefined;
  readonly lifetimeMs: number;
  readonly logger: Logger;
  /** Each signing answer carries a sidecar session for the API (valid until the certificate expires). */
  readonly onSession?: (session: SessionGrant) => void;
  /** Renewals and retries are timed on this clock (default: the real one). */
  readonly clock?: Clock;
}

export interface IdentityStatus {
  /** False until the first certificate arrived (the control plane was unreachable at start-up). */
  readonly ready: boolean;
  readonly spiffeId: string | null;
  readonly notAfter: string | null;
  readonly renewals: number;
  readonly renewalFailures: number;
  readonly roots: number;
}

export class WorkloadIdentity {
  readonly #options: IdentityOptions;
  readonly #listeners = new Set<(certificate: WorkloadCertificate) => void>();
  #current: WorkloadCertificate | undefined;
  /** Whether the last request reached the control plane (undefined before the first). */
  #reachable: boolean | undefined;
  #timer: Timer | undefined;
  #closed = false;
  #renewals = 0;
  /** The key pair and CSR of the next renewal, made at {@link PREPARE_AT} of the certificate's life. */
  #nextCsr: Promise<CsrResult> | undefined;
  #prepareTimer: Timer | undefined;
  #renewalFailures = 0;

  readonly #clock: Clock;

  private constructor(options: IdentityOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Earn the first certificate. A refusal (no token, a bad token, an identity the token does
   * not allow) fails the start. An unreachable control plane does not: after `waitMs` the
   * identity is returned without a certificate and keeps asking in the background; until it
   * has one, inbound connections are refused and the instance is not registered.
   * @throws TrellisError IDENTITY_UNAVAILABLE
   */
  static async start(options: IdentityOptions, waitMs: number): Promise<WorkloadIdentity> {
    if (options.token === undefined || options.token === '') {
      throw new TrellisError(ErrorCodes.IDENTITY_UNAVAILABLE,
        `the sidecar of ${options.service} needs a join token for its mTLS certificate: make one with \`trellis token create --service ${options.service}\` and pass it in TRELLIS_TOKEN (or --token-file), or set mtls mode off`);
    }
    const identity = new WorkloadIdentity(options);
    const first = identity.#first();
    let stopWaiting: (value: 'waiting') => void = () => {};
    const waiting = new Promise<'waiting'>((resolve) => { stopWaiting = resolve; });
    const timer = identity.#clock.setTimeout(() => stopWaiting('waiting'), waitMs);
    const waited = await Promise.race([first, waiting]);
    timer.cancel();
    if (waited === 'waiting') {
      options.logger.warn({ waitedMs: waitMs }, 'the control plane is unreachable: starting without a workload certificate (inbound connections are refused and the instance is not registered until it arrives)');
      first.catch((err: unknown) => options.logger.error({ err: messageOf(err) }, 'no workload certificate'));
    } else if (waited instanceof Error) {
      throw waited;
    }
    return identity;
  }

  /** The first certificate, asked for until it comes; resolves with the refusal as a value. */
  async #first(): Promise<Error | undefined> {
    for (;;) {
      if (this.#closed) return undefined;
      try {
        const first = await WorkloadIdentity.#request(this.#options, undefined);
        this.#reachable = true;
        this.#install(first);
        this.#options.logger.info({ spiffeId: first.spiffeId, notAfter: first.notAfter.toISOString() }, 'workload certificate issued');
        return undefined;
      } catch (err) {
        const unreachable = isTrellisError(err) && err.code === ErrorCodes.CONTROL_PLANE_UNREACHABLE;
        this.#reachable = !unreachable;
        if (!unreachable) {
          return new TrellisError(ErrorCodes.IDENTITY_UNAVAILABLE, `the sidecar of ${this.#options.service} could not get its mTLS certificate: ${messageOf(err)}`, { cause: err });
        }
        await delay(this.#clock, FIRST_RETRY_MS);
      }
    }
  }

  #install(certificate: WorkloadCertificate): void {
    this.#current = certificate;
    for (const listener of this.#listeners) listener(certificate);
    this.#schedule();
    // The next renewal's key and CSR, made ahead (in a worker: ./csr.ts) so that the renewal waits
    // for none — not at once: an idle sidecar has no worker's memory on top of its own.
    this.#nextCsr = undefined;
    this.#prepareTimer?.cancel();
    const left = certificate.notAfter.getTime() - this.#clock.now();
    this.#prepareTimer = this.#clock.setTimeout(() => {
      if (this.#closed || this.#current !== certificate) return;
      const next = makeCsr(certificate.spiffeId, this.#options.service, true);
      next.catch(() => undefined); // a failure shows when the renewal takes it (and makes a new one)
      this.#nextCsr = next;
    }, Math.max(0, left * PREPARE_AT));
  }

  static async #request(options: IdentityOptions, current: WorkloadCertificate | undefined, prepared?: Promise<CsrResult>): Promise<WorkloadCertificate> {
    // The trust domain is the CA's: a first request learns it from the bundle.
    const spiffeId = current?.spiffeId
      ?? `spiffe://${(await options.client.caBundle()).trustDomain}/ns/${options.namespace}/svc/${options.service}`;
    const { csrPem, keyPem } = await (prepared ?? makeCsr(spiffeId, options.service));
    let issued: IssuedCertificate;
    if (current === undefined) {
      issued = await options.client.signCertificate({ csr: csrPem, lifetime: options.lifetimeMs }, options.token);
      return WorkloadIdentity.#certificate(options, issued, keyPem);
    }
    const signer = createSign('sha256');
    signer.update(csrPem);
    const body: SignBody = {
      csr: csrPem,
      lifetime: options.lifetimeMs,
      renew: { certificate: current.certificatePem, signature: signer.sign(current.keyPem, 'base64') },
    };
    try {
      issued = await options.client.signCertificate(body);
    } catch (err) {
      if (!isTrellisError(err) || err.code !== ErrorCodes.TOKEN_INVALID || options.token === undefined) throw err;
      issued = await options.client.signCertificate({ csr: csrPem, lifetime: options.lifetimeMs }, options.token);
    }
    return WorkloadIdentity.#certificate(options, issued, keyPem);
  }

  static #certificate(options: IdentityOptions, issued: IssuedCertificate, keyPem: string): WorkloadCertificate {
    // Older control planes answer without a session: the sidecar keeps its join token then.
    if (issued.session !== undefined) options.onSession?.(issued.session);
    return Object.freeze({
      keyPem,
      certificatePem: issued.certificate,
      trustBundle: Object.freeze([...issued.trustBundle]),
      spiffeId: issued.spiffeId,
      trustDomain: issued.trustDomain,
      // Older control planes do not send it: no federation.
      federatedTrustDomains: Object.freeze([...(issued.federatedTrustDomains ?? [])]),
      notAfter: new Date(issued.notAfter),
    });
  }

  /** The certificate in use; undefined until the first one arrived. */
  current(): WorkloadCertificate | undefined {
    return this.#current;
  }

  /** Whether the last request to the CA reached the control plane (undefined before the first). */
  get reachable(): boolean | undefined {
    return this.#reachable;
  }

  /** Called with each new certificate, the first one included. */
  onRenewed(listener: (certificate: WorkloadCertificate) => void): void {
    this.#listeners.add(listener);
  }

  status(): IdentityStatus {
    return {
      ready: this.#current !== undefined,
      spiffeId: this.#current?.spiffeId ?? null,
      notAfter: this.#current?.notAfter.toISOString() ?? null,
      renewals: this.#renewals,
      renewalFailures: this.#renewalFailures,
      roots: this.#current?.trustBundle.length ?? 0,
    };
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#prepareTimer?.cancel();
  }

  #schedule(delayMs?: number): void {
    if (this.#closed || this.#current === undefined) return;
    this.#timer?.cancel();
    const left = this.#current.notAfter.getTime() - this.#clock.now();
    this.#timer = this.#clock.setTimeout(() => void this.#renew(), Math.max(0, delayMs ?? left * RENEW_AT));
  }

  async #renew(): Promise<void> {
    const current = this.#current;
    if (current === undefined) return;
    const prepared = this.#nextCsr;
    this.#nextCsr = undefined; // one key pair, one CSR: a retry makes new ones
    try {
      const next = await WorkloadIdentity.#request(this.#options, current, prepared);
      this.#reachable = true;
      if (this.#closed) return;
      this.#renewals += 1;
      this.#options.logger.debug({ spiffeId: next.spiffeId, notAfter: next.notAfter.toISOString(), roots: next.trustBundle.length }, 'workload certificate renewed');
      this.#install(next);
    } catch (err) {
      this.#reachable = !(isTrellisError(err) && err.code === ErrorCodes.CONTROL_PLANE_UNREACHABLE);
      this.#renewalFailures += 1;
      const left = current.notAfter.getTime() - this.#clock.now();
      this.#options.logger.warn({ err: messageOf(err), expiresInMs: left }, 'workload certificate renewal failed; retrying');
      // Retry soon, more often as the expiry nears.
      this.#schedule(Math.max(100, Math.min(5_000, left / 5)));
    }
  }
}
