/**
 * Opens the store backend the configuration asks for: the embedded SQLite store in the data dir
 * (the default), or an etcd cluster (`etcd://host1:2379,host2:2379,host3:2379`). Nothing above
 * src/store knows which one runs.
 */
import type { Logger } from 'pino';
import { openEtcdStore, parseEtcdUrl } from './etcd/index.js';
import { checkStoreFlag, EMBEDDED_STORE, type EtcdSettings } from './selection.js';
import { openEphemeralSqliteStore, openSqliteStore } from './sqlite/index.js';
import type { KvStore } from './types.js';

export { checkStoreFlag, EMBEDDED_STORE, type EtcdSettings } from './selection.js';

export interface OpenStoreOptions {
  dataDir: string;
  logger: Logger;
  /** "embedded" (default) or an etcd:// URL listing the cluster's members. */
  store?: string;
  etcd?: EtcdSettings;
}

export async function openStore(options: OpenStoreOptions): Promise<KvStore> {
  const store = checkStoreFlag(options.store ?? EMBEDDED_STORE);
  if (store === EMBEDDED_STORE) return openSqliteStore({ dataDir: options.dataDir, logger: options.logger });
  return openEtcdStore({ endpoints: parseEtcdUrl(store), ...options.etcd }, { logger: options.logger });
}

/**
 * Where short-lived, frequently rewritten data (sidecar telemetry reports) goes so that it never
 * uses up the main store's watch history or disk: with the embedded store (one process) an
 * in-memory store of its own; with etcd the cluster itself (every replica must see it; etcd's
 * own compaction bounds its history). The caller closes it when it is not `main`.
 */
export function openEphemeralStore(main: KvStore, logger: Logger): KvStore {
  return main.backend === 'sqlite' ? openEphemeralSqliteStore({ logger }) : main;
}
