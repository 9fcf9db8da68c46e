/**
 * The outbound side of mutual TLS: how a sidecar connects to a peer sidecar of the service
 * it means to call — TLS 1.3, its current certificate, the trust bundle, and a check that
 * the peer's certificate carries that service's SPIFFE ID (not merely any mesh identity).
 * TLS sessions are kept per peer for resumption, and dropped with each new certificate.
 * Failures are counted by reason; the connection attempt fails (UPSTREAM_CONNECT upstream).
 */
import { connect as tlsConnect, createSecureContext, type ConnectionOptions, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';
import { createRequire } from 'node:module';
import type { buildConnector } from 'undici';
import type { WorkloadCertificate, WorkloadIdentity } from '../identity/workload.js';
import { identityFromAltNames, spiffeId } from '../spiffe.js';
import type { HandshakeFailureReason, TlsStats } from './stats.js';

/** undici, for the `http.engine: node` path only: loaded when that path first connects, never in a sidecar on the raw path. */
let undiciConnector: typeof buildConnector | undefined;
function loadBuildConnector(): typeof buildConnector {
  undiciConnector ??= (createRequire(import.meta.url)('undici') as { buildConnector: typeof buildConnector }).buildConnector;
  return undiciConnector;
}

const NO_CERTIFICATE = createSecureContext({ minVersion: 'TLSv1.3' });

export const ALPN_HTTP1 = ['http/1.1'] as const;
export const ALPN_H2 = ['h2'] as const;

export class ClientTls {
  readonly #identity: WorkloadIdentity;
  readonly #stats: TlsStats;
  readonly #namespace: string;
  /** Undefined until the first certificate: a connection then has none to present, and fails. */
  #context: SecureContext | undefined;
  readonly #sessions = new Map<string, Buffer>();
  /** Bumped with each certificate: a session ticket that arrives for a connection of an older one is not kept. */
  #generation = 0;
  #connectors = new Map<string, buildConnector.connector>();

  constructor(identity: WorkloadIdentity, namespace: string, stats: TlsStats) {
    this.#identity = identity;
    this.#namespace = namespace;
    this.#stats = stats;
    const first = identity.current();
    this.#context = first === undefined ? undefined : ClientTls.#contextOf(first);
    identity.onRenewed((certificate) => {
      this.#context = ClientTls.#contextOf(certificate);
      this.#generation += 1;
      this.#sessions.clear();
      this.#connectors = new Map();
    });
  }

  static #contextOf(certificate: WorkloadCertificate): SecureContext {
    return createSecureContext({ key: certificate.keyPem, cert: certificate.certificatePem, ca: [...certificate.trustBundle], minVersion: 'TLSv1.3' });
  }

  /** The SPIFFE ID a sidecar of `service` must present. */
  expected(service: string): string {
    return spiffeId(this.#identity.current()?.trustDomain ?? 'no-certificate-yet', this.#namespace, service);
  }

  /** tls.connect options for a peer sidecar of `service`. */
  options(service: string, alpn: readonly string[] | undefined): ConnectionOptions {
    const expected = this.expected(service);
    return {
      secureContext: this.#context ?? NO_CERTIFICATE,
      minVersion: 'TLSv1.3',
      rejectUnauthorized: true,
      ...(alpn === undefined ? {} : { ALPNProtocols: [...alpn] }),
      checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
        const actual = identityFromAltNames(cert.subjectaltname)?.spiffeId;
        if (actual === expected) return undefined;
        this.#stats.failed({ side: 'outbound', reason: 'wrong-identity', peer: service, detail: `presented ${actual ?? 'no SPIFFE ID'}` });
        return Object.assign(new Error(`the peer is ${actual ?? 'no mesh workload'}, not ${expected}`), { code: 'ERR_TLS_WRONG_IDENTITY' });
      },
    };
  }

  /** A TLS connection to a peer sidecar (TCP relay, WebSocket upgrades, HTTP/2 sessions). */
  connect(host: string, port: number, service: string, alpn: readonly string[] | undefined): TLSSocket {
    const key = `${service}@${host}:${port}`;
    const session = this.#sessions.get(key);
    const socket = tlsConnect({ ...this.options(service, alpn), host, port, ...(session === undefined ? {} : { session }) });
    socket.setNoDelay(true);
    let secured = false;
    socket.once('secureConnect', () => { secured = true; });
    // A resumed session carries the certificate it was made with: keep only sessions of the current one.
    const generation = this.#generation;
    socket.once('session', (ticket: Buffer) => {
      if (generation === this.#generation) this.#sessions.set(key, ticket);
    });
    socket.once('error', (err: Error & { code?: string }) => {
      this.#sessions.delete(key);
      // Handshake failures only (connection refused is not TLS's); a wrong identity is counted where it is found.
      if (secured || err.code === 'ERR_TLS_WRONG_IDENTITY' || err.code === 'ECONNREFUSED') return;
      this.#stats.failed({ side: 'outbound', reason: outboundReason(err), peer: service, detail: err.code ?? err.message });
    });
    return socket;
  }

  /** An undici connector for HTTP/1 pools to sidecars of `service` (undici keeps its own session cache). */
  undici(service: string, timeoutMs: number): buildConnector.connector {
    return (options, callback) => {
      let connector = this.#connectors.get(service);
      if (connector === undefined) {
        // Node's TLS options allow `port: undefined`, undici's type does not: the same options either way.
        connector = loadBuildConnector()({ ...(this.options(service, ALPN_HTTP1) as buildConnector.BuildOptions), timeout: timeoutMs, maxCachedSessions: 100 });
        this.#connectors.set(service, connector);
      }
      connector({ ...options, protocol: 'https:' }, callback);
    };
  }
}

function outboundReason(err: Error & { code?: string }): HandshakeFailureReason {
  const code = err.code ?? '';
  if (code === 'CERT_HAS_EXPIRED') return 'expired';
  if (/UNABLE_TO|SELF_SIGNED|CERT_/.test(code)) return 'untrusted';
  if (/ALERT|SSL/.test(code)) return 'protocol';
  return 'other';
}
