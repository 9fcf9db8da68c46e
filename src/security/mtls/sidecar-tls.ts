/**
 * A sidecar's mutual TLS, put together from its config: the workload identity (key,
 * certificate, renewal), the client side for calls to peer sidecars, the inbound front
 * for the instance's listener, and their counters. Absent in mode off.
 */
import type { Logger } from 'pino';
import { ThrottledLog } from '../../util/throttled-log.js';
import type { Duplex } from 'node:stream';
import { WorkloadIdentity, type CertificateApi, type IdentityStatus } from '../identity/workload.js';
import type { MeshScope } from '../authz/types.js';
import type { WorkloadCertificate } from '../identity/workload.js';
import type { SessionGrant } from '../tokens/sessions.js';
import { ClientTls } from './client.js';
import type { MtlsMode } from './mode.js';
import { inboundTlsFront, type InboundFront } from './server.js';
import { TlsStats } from './stats.js';

/** How long start-up waits for the first certificate while the control plane is unreachable. */
const FIRST_CERTIFICATE_WAIT_MS = 3_000;

export interface MtlsConfig {
  readonly mode: MtlsMode;
  readonly namespace: string;
  readonly certificateLifetimeMs: number;
}

export interface SidecarTls {
  readonly mode: 'strict' | 'permissive';
  readonly identity: WorkloadIdentity;
  readonly client: ClientTls;
  /** Handshake counters; `stats.onFailure(hook)` for a metrics exporter. */
  readonly stats: TlsStats;
  /** The front of the inbound listener, with the ALPN its protocol needs. */
  inboundFront(alpn: readonly string[] | undefined): (deliver: (socket: Duplex) => void) => InboundFront;
  status(): SidecarTlsStatus;
  close(): void;
}

export interface SidecarTlsStatus extends IdentityStatus, ReturnType<TlsStats['snapshot']> {
  readonly mode: 'strict' | 'permissive';
}

export interface SidecarTlsOptions {
  readonly config: MtlsConfig;
  readonly service: string;
  readonly client: CertificateApi;
  readonly token: string | undefined;
  readonly logger: Logger;
  /** Called with the sidecar session every certificate comes with. */
  readonly onSession: (session: SessionGrant) => void;
}

export async function startSidecarTls(options: SidecarTlsOptions): Promise<SidecarTls | undefined> {
  const { config, logger } = options;
  if (config.mode === 'off') return undefined;
  const mode = config.mode;
  const identity = await WorkloadIdentity.start({
    client: options.client,
    service: options.service,
    namespace: config.namespace,
    token: options.token,
    lifetimeMs: config.certificateLifetimeMs,
    logger,
    onSession: options.onSession,
  }, FIRST_CERTIFICATE_WAIT_MS);
  const stats = new TlsStats();
  // One throttle per reason: a flood of one kind does not hide the first of another.
  const throttles = new Map<string, ThrottledLog>();
  const refusals = {
    report(details: { reason: string }): void {
      let log = throttles.get(details.reason);
      if (log === undefined) {
        log = new ThrottledLog(logger, `inbound connection refused by mTLS: ${details.reason}`);
        throttles.set(details.reason, log);
      }
      log.report(details);
    },
  };
  const client = new ClientTls(identity, config.namespace, stats);
  return {
    mode,
    identity,
    client,
    stats,
    inboundFront: (alpn) => (deliver) => inboundTlsFront({ mode, identity, alpn, stats, refusals }, deliver),
    status: () => ({ mode, ...identity.status(), ...stats.snapshot() }),
    close: () => identity.close(),
  };
}

/** The scope a sidecar's policies are read in: its certificate's trust domain and federation, its namespace. */
export function certificateScope(certificate: WorkloadCertificate, namespace: string): MeshScope {
  return { trustDomain: certificate.trustDomain, namespace, federatedTrustDomains: certificate.federatedTrustDomains };
}

/** Keep an authorization table in the scope of the sidecar's current certificate. */
export function followCertificateScope(table: { setScope(scope: MeshScope): void }, identity: WorkloadIdentity, namespace: string): void {
  const current = identity.current();
  if (current !== undefined) table.setScope(certificateScope(current, namespace));
  identity.onRenewed((certificate) => table.setScope(certificateScope(certificate, namespace)));
}
