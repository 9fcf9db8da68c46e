/** When credentials that expire are renewed: certificates (workload.ts) and sidecar sessions (tokens/session-keeper.ts). Kept apart so a sidecar without mTLS loads no certificate code. */

/** Renew at this share of the credential's life. */
export const RENEW_AT = 0.7;
