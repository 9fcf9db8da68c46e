/**
 * The inbound side of mutual TLS: a TCP front that takes each connection, runs the TLS 1.3
 * handshake (our certificate, the caller's certificate required and checked against the
 * trust bundle, its SPIFFE ID read and its trust domain checked: the mesh's own or a federated
 * one), and hands the secured socket to the listener's
 * protocol server (HTTP/1, HTTP/2, TCP relay) with `deliver`. In permissive mode a
 * connection whose first byte is not a TLS handshake record (0x16) is delivered as
 * plaintext. A refused connection is closed, counted by reason and logged (throttled);
 * it touches no other connection. A new certificate applies to new handshakes
 * (setSecureContext); connections already open carry on.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { WorkloadCertificate, WorkloadIdentity } from '../identity/workload.js';
import { tagPeer } from './peer.js';
import type { HandshakeFailureReason, TlsStats } from './stats.js';

const TLS_HANDSHAKE_RECORD = 0x16;
const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface InboundTlsOptions {
  readonly mode: 'strict' | 'permissive';
  readonly identity: WorkloadIdentity;
  /** ALPN the listener's protocol needs: ['h2'] for HTTP/2, ['http/1.1'] for HTTP/1, none for TCP. */
  readonly alpn: readonly string[] | undefined;
  readonly stats: TlsStats;
  /** Logs a refusal (throttled per reason). */
  readonly refusals: { report(details: { reason: string; peer: string; detail: string }): void };
}

export interface InboundFront {
  /** The server to bind in place of the protocol server. */
  readonly server: NetServer;
  /** Close every connection it accepted that is still open (those in their handshake included). */
  destroyPending(): void;
}

function contextOptions(certificate: WorkloadCertificate): { key: string; cert: string; ca: string[] } {
  return { key: certificate.keyPem, cert: certificate.certificatePem, ca: [...certificate.trustBundle] };
}

/** Why a completed handshake is not good enough (rejectUnauthorized is off so that the reason is known). */
function refusalOf(socket: TLSSocket): { reason: HandshakeFailureReason; detail: string } | undefined {
  const peer = socket.getPeerCertificate();
  if (peer === null || Object.keys(peer).length === 0) return { reason: 'no-certificate', detail: 'the client sent no certificate' };
  if (!socket.authorized) {
    const code = String(socket.authorizationError);
    if (code === 'CERT_HAS_EXPIRED') return { reason: 'expired', detail: `the client certificate expired at ${peer.valid_to}` };
    return { reason: 'untrusted', detail: `the client certificate is not from this mesh's CA (${code})` };
  }
  // A resumed session does not verify again: its certificate may have expired since.
  if (Date.parse(peer.valid_to) <= Date.now()) return { reason: 'expired', detail: `the client certificate expired at ${peer.valid_to}` };
  return undefined;
}

/**
 * Why a caller's trust domain is not accepted (neither ours nor federated), or undefined. A root
 * we trust may sign for other trust domains (a shared corporate root, or a stolen key): the
 * chain alone does not make a caller one of ours.
 */
export function foreignTrustDomain(trustDomain: string, ours: WorkloadCertificate | undefined): string | undefined {
  if (ours === undefined || trustDomain === ours.trustDomain || ours.federatedTrustDomains.includes(trustDomain)) return undefined;
  const federated = ours.federatedTrustDomains;
  return `trust domain ${trustDomain} is not this mesh's (${ours.trustDomain})${federated.length === 0 ? ' and none is federated' : ` nor federated (${federated.join(', ')})`}`;
}

function failureReason(err: Error & { code?: string }): HandshakeFailureReason {
  const code = err.code ?? '';
  if (/WRONG_VERSION_NUMBER|HTTP_REQUEST|UNKNOWN_PROTOCOL|PACKET_LENGTH_TOO_LONG/.test(code)) return 'plaintext';
  if (/UNSUPPORTED_PROTOCOL|VERSION|NO_SHARED_CIPHER|NO_PROTOCOLS|INAPPROPRIATE_FALLBACK/.test(code)) return 'protocol';
  return 'other';
}

export function inboundTlsFront(options: InboundTlsOptions, deliver: (socket: Duplex) => void): InboundFront {
  const { stats, refusals } = options;
  const pending = new Set<Socket>();
  const makeServer = (certificate: WorkloadCertificate): TlsServer => createTlsServer({
    ...contextOptions(certificate),
    minVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: false,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    ...(options.alpn === undefined ? {} : { ALPNProtocols: [...options.alpn] }),
  });
  const first = options.identity.current();
  // No certificate yet (the control plane was away at start-up): connections are refused until it comes.
  let tlsServer = first === undefined ? undefined : makeServer(first);

  const refuse = (socket: Socket | TLSSocket, reason: HandshakeFailureReason, detail: string): void => {
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    stats.failed({ side: 'inbound', reason, peer, detail });
    refusals.report({ reason, peer, detail });
    socket.destroy();
  };

  const onSecure = (socket: TLSSocket): void => {
    const refusal = refusalOf(socket);
    if (refusal !== undefined) {
      refuse(socket, refusal.reason, refusal.detail);
      return;
    }
    const peer = tagPeer(socket);
    if (peer === undefined) {
      refuse(socket, 'no-identity', 'the client certificate has no spiffe://…/ns/…/svc/… URI SAN');
      return;
    }
    const foreign = foreignTrustDomain(peer.trustDomain, options.identity.current());
    if (foreign !== undefined) {
      refuse(socket, 'trust-domain', `the client certificate is for ${peer.spiffeId}: ${foreign}`);
      return;
    }
    stats.inboundHandshakes += 1;
    deliver(socket);
  };
  const onClientError = (err: Error & { code?: string }, socket: TLSSocket): void => {
    refuse(socket, failureReason(err), err.code ?? err.message);
  };
  const listen = (server: TlsServer): TlsServer => server.on('secureConnection', onSecure).on('tlsClientError', onClientError);
  if (tlsServer !== undefined) listen(tlsServer);
  options.identity.onRenewed((certificate) => {
    if (tlsServer === undefined) tlsServer = listen(makeServer(certificate));
    else tlsServer.setSecureContext({ ...contextOptions(certificate), minVersion: 'TLSv1.3' });
  });

  const handshake = (socket: Socket): void => {
    if (tlsServer === undefined) {
      refuse(socket, 'identity-pending', 'this sidecar has no workload certificate yet (the control plane is unreachable)');
      return;
    }
    tlsServer.emit('connection', socket);
  };

  const server = createNetServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: options.mode === 'permissive' }, (socket) => {
    socket.on('error', () => undefined); // a reset while in the handshake: tlsClientError has it, or it just closes
    // Tracked until closed: close() ends connections still in their handshake (or silent, in permissive mode).
    pending.add(socket);
    socket.once('close', () => pending.delete(socket));
    if (options.mode === 'strict') {
      handshake(socket);
      return;
    }
    // Permissive: peek at the first byte (a client that sends nothing is closed after the handshake timeout).
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => socket.destroy());
    socket.once('readable', () => {
      socket.setTimeout(0);
      const first = socket.read(1) as Buffer | null;
      if (first === null) {
        socket.destroy();
        return;
      }
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE_RECORD) {
        handshake(socket);
      } else {
        stats.plaintextAccepted += 1;
        deliver(socket);
      }
    });
  });
  return {
    server,
    destroyPending() {
      for (const socket of pending) socket.destroy();
    },
  };
}
