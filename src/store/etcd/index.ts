/**
 * The etcd store backend: a KvStore on an etcd v3 cluster.
 *
 *   const store = await openEtcdStore({ endpoints: ['10.0.0.1:2379', '10.0.0.2:2379'] }, { logger });
 *
 * An unreachable cluster at start-up is not fatal: one clear log line, then retries with
 * back-off until it answers (or `signal` aborts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { TrellisError, messageOf } from '../../errors.js';
import { isTransient } from './errors.js';
import { createEtcdClient } from './client.js';
import { checkPrefix, DEFAULT_ETCD_PREFIX, type EtcdConnectionOptions } from './options.js';
import { EtcdStore } from './store.js';

export { EtcdStore } from './store.js';
export { DEFAULT_ETCD_PREFIX, isEtcdUrl, parseEtcdUrl, type EtcdConnectionOptions, type EtcdTlsFiles } from './options.js';

export const DEFAULT_CALL_TIMEOUT_MS = 3_000;

export interface OpenEtcdOptions {
  logger?: Logger;
  /** Give up waiting for an unreachable cluster (default: wait until it answers). */
  signal?: AbortSignal;
  /** Longest pause between two connection attempts at start-up (default 10 s). */
  maxBackoffMs?: number;
}

export async function openEtcdStore(connection: EtcdConnectionOptions, options: OpenEtcdOptions = {}): Promise<EtcdStore> {
  const prefix = checkPrefix(connection.prefix ?? DEFAULT_ETCD_PREFIX);
  const callTimeoutMs = connection.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const maxBackoffMs = options.maxBackoffMs ?? 10_000;
  const endpoints = connection.endpoints.join(',');
  let delay = 250;
  for (let attempt = 1; ; attempt += 1) {
    const store = new EtcdStore(createEtcdClient(connection, callTimeoutMs), { endpoints: connection.endpoints, prefix, callTimeoutMs });
    try {
      const status = await store.status();
      if (attempt > 1) options.logger?.info({ etcd: endpoints, attempts: attempt }, 'etcd reachable: continuing start-up');
      options.logger?.debug({ etcd: endpoints, prefix, revision: status.revision }, 'etcd store open');
      return store;
    } catch (err) {
      await store.close();
      // Wrong credentials or a refused certificate do not get better by waiting.
      if (options.signal?.aborted || (err instanceof TrellisError && err.cause !== undefined && !isTransient(err.cause))) throw err;
      if (attempt === 1) {
        options.logger?.warn({ etcd: endpoints, err: messageOf(err) },
          `etcd is unreachable at ${endpoints}; retrying with back-off until it answers (check the addresses, TLS and credentials)`);
      } else {
        options.logger?.debug({ etcd: endpoints, attempt, err: messageOf(err) }, 'etcd still unreachable');
      }
      await sleep(delay, undefined, options.signal === undefined ? {} : { signal: options.signal }).catch(() => undefined);
      if (options.signal?.aborted) throw err;
      delay = Math.min(delay * 2, maxBackoffMs);
    }
  }
}
