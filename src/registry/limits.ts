/** Limits on what an instance registration may carry. Documented in docs/api.md. */
export const Limits = {
  nameMaxLength: 63,
  metadataMaxKeys: 64,
  metadataKeyMaxLength: 128,
  metadataValueMaxLength: 512,
  /** Serialized metadata as JSON. */
  metadataMaxBytes: 8 * 1024,
  weightMax: 65_535,
  ttlMinMs: 500,
  ttlMaxMs: 24 * 3_600_000,
  deregisterMinMs: 1_000,
  deregisterMaxMs: 30 * 24 * 3_600_000,
  checksMax: 8,
  checkIntervalMinMs: 100,
  checkIntervalMaxMs: 3_600_000,
  checkTimeoutMinMs: 10,
  thresholdMax: 100,
  /** Request bodies above this get 413. */
  bodyMaxBytes: 64 * 1024,
} as const;

export const Defaults = {
  weight: 1,
  deregisterCriticalAfterMs: 60_000,
  checkIntervalMs: 10_000,
  checkTimeoutMs: 5_000,
  failuresBeforeCritical: 1,
  successesBeforePassing: 1,
} as const;
