/** Opens the store backend the configuration asks for. Today: the embedded SQLite store. */
import type { Logger } from 'pino';
import { openSqliteStore } from './sqlite/index.js';
import type { KvStore } from './types.js';

export interface OpenStoreOptions {
  dataDir: string;
  logger: Logger;
}

export async function openStore(options: OpenStoreOptions): Promise<KvStore> {
  return openSqliteStore({ dataDir: options.dataDir, logger: options.logger });
}
