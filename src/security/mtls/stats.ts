/**
 * Counters of the sidecar's TLS: handshakes, and failures by reason on each side.
 * `onFailure` is the hook a metrics exporter subscribes to (one call per failure).
 */
export type HandshakeFailureReason =
  | 'identity-pending' | 'no-certificate' | 'untrusted' | 'expired' | 'no-identity' | 'trust-domain' | 'plaintext' | 'protocol' | 'wrong-identity' | 'other';

export interface HandshakeFailure {
  readonly side: 'inbound' | 'outbound';
  readonly reason: HandshakeFailureReason;
  /** The peer's address (inbound) or the service called (outbound). */
  readonly peer: string;
  readonly detail: string;
}

export class TlsStats {
  inboundHandshakes = 0;
  /** Plaintext connections taken in permissive mode. */
  plaintextAccepted = 0;
  readonly inboundFailures: Partial<Record<HandshakeFailureReason, number>> = {};
  readonly outboundFailures: Partial<Record<HandshakeFailureReason, number>> = {};
  readonly #hooks = new Set<(failure: HandshakeFailure) => void>();

  onFailure(hook: (failure: HandshakeFailure) => void): () => void {
    this.#hooks.add(hook);
    return () => this.#hooks.delete(hook);
  }

  failed(failure: HandshakeFailure): void {
    const counters = failure.side === 'inbound' ? this.inboundFailures : this.outboundFailures;
    counters[failure.reason] = (counters[failure.reason] ?? 0) + 1;
    for (const hook of this.#hooks) hook(failure);
  }

  snapshot(): { inboundHandshakes: number; plaintextAccepted: number; inboundFailures: Record<string, number>; outboundFailures: Record<string, number> } {
    return {
      inboundHandshakes: this.inboundHandshakes,
      plaintextAccepted: this.plaintextAccepted,
      inboundFailures: { ...this.inboundFailures },
      outboundFailures: { ...this.outboundFailures },
    };
  }
}
