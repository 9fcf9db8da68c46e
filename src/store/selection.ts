/**
 * Which store backend a control plane runs on, as the user writes it (`--store`): checked at
 * flag parsing without loading any backend, so a typo fails before anything starts.
 */
import { ErrorCodes, TrellisError } from '../errors.js';
import { isEtcdUrl, parseEtcdUrl, type EtcdTlsFiles } from './etcd/options.js';

export const EMBEDDED_STORE = 'embedded';

export interface EtcdSettings {
  tls?: EtcdTlsFiles;
  auth?: { username: string; password: string };
  /** Key prefix inside etcd (default /trellis). */
  prefix?: string;
}

/** "embedded" or a valid etcd:// URL; anything else is a BAD_FLAG naming the fix. */
export function checkStoreFlag(store: string): string {
  if (store === EMBEDDED_STORE) return store;
  if (isEtcdUrl(store)) {
    parseEtcdUrl(store);
    return store;
  }
  throw new TrellisError(ErrorCodes.BAD_FLAG,
    `--store ${JSON.stringify(store)}: use "embedded" (SQLite in --data-dir) or etcd://host1:2379,host2:2379,host3:2379`, { field: 'store' });
}
