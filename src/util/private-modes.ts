/**
 * Modes of what holds secrets at rest (a control plane's data dir: the store, the CA's keys, the
 * key-encryption key, the admin token): directories 0700, files 0600 — nothing for other users.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;
/** The bits that let anyone but the owner read, write or enter. */
export const NOT_PRIVATE_BITS = 0o077;
