/**
 * mTLS modes, per mesh (the mesh file's `mtls:`) and per service (a service's `mtls:`, a
 * sidecar's `mtls.mode`):
 *   strict      inbound takes mutual TLS 1.3 only; plaintext is refused (the default)
 *   permissive  inbound takes mutual TLS and plaintext (first byte 0x16 = a TLS handshake), for migration
 *   off         no certificate, plaintext both ways (benchmarks; a mesh not yet secured)
 * Outbound, a sidecar with a certificate (strict or permissive) always speaks mutual TLS
 * to its peers, as Linkerd does.
 */
export const MTLS_MODES = ['strict', 'permissive', 'off'] as const;
export type MtlsMode = (typeof MTLS_MODES)[number];
export const DEFAULT_MTLS_MODE: MtlsMode = 'strict';
