/**
 * The caller's identity on an inbound connection: read once from the peer certificate's
 * URI SAN when the TLS handshake completes and kept on the socket, so that every request
 * on the connection (HTTP/1 or each HTTP/2 stream, through the session's socket) finds it.
 */
import type { TLSSocket } from 'node:tls';
import type { PeerIdentity } from '../../core/identity.js';
import { identityFromAltNames } from '../spiffe.js';

const PEER = Symbol('trellis.peer');

interface Tagged { [PEER]?: PeerIdentity }

export function tagPeer(socket: TLSSocket): PeerIdentity | undefined {
  const identity = identityFromAltNames(socket.getPeerCertificate().subjectaltname);
  if (identity !== undefined) (socket as TLSSocket & Tagged)[PEER] = identity;
  return identity;
}

/** The identity of the connection's peer; undefined for plaintext (permissive mode) or no socket. */
export function peerOf(socket: object | null | undefined): PeerIdentity | undefined {
  return socket === null || socket === undefined ? undefined : (socket as Tagged)[PEER];
}
