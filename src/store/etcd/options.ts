/**
 * Where the etcd cluster is and how to talk to it: `etcd://host1:2379,host2:2379,host3:2379`
 * (plain) or with TLS files and a user. Validated once; errors name the flag and the fix.
 */
import { readFileSync } from 'node:fs';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';

export const ETCD_SCHEME = 'etcd://';
export const DEFAULT_ETCD_PREFIX = '/trellis';

export interface EtcdTlsFiles {
  /** CA bundle that signed the etcd members' certificates. */
  ca: string;
  /** Client certificate and key, when etcd asks for client certificates. */
  cert?: string;
  key?: string;
}

export interface EtcdConnectionOptions {
  /** host:port of each member. */
  endpoints: string[];
  tls?: EtcdTlsFiles;
  auth?: { username: string; password: string };
  /** Every Trellis key is stored under this prefix (default /trellis). */
  prefix?: string;
  /** Deadline of one etcd call (default 3 s); transient failures are retried within it. */
  callTimeoutMs?: number;
}

export function isEtcdUrl(store: string): boolean {
  return store.startsWith(ETCD_SCHEME);
}

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/** `etcd://h1:2379,h2:2379` → ['h1:2379', 'h2:2379']. */
export function parseEtcdUrl(store: string, field = 'store'): string[] {
  const fail = (why: string): TrellisError => new TrellisError(ErrorCodes.BAD_FLAG,
    `--${field} ${JSON.stringify(store)}: ${why}; use etcd://host1:2379,host2:2379,host3:2379`, { field });
  if (!isEtcdUrl(store)) throw fail('an etcd store URL starts with etcd://');
  const list = store.slice(ETCD_SCHEME.length).replace(/\/+$/, '');
  if (list === '') throw fail('it names no etcd member');
  const endpoints = list.split(',').map((e) => e.trim());
  for (const endpoint of endpoints) {
    if (!HOST_PORT.test(endpoint)) throw fail(`${JSON.stringify(endpoint)} is not host:port`);
    const port = Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
    if (port < 1 || port > 65_535) throw fail(`port ${port} is out of range`);
  }
  return endpoints;
}

/** The TLS files read once at start-up; a missing file is named with its flag. */
export function readTlsFiles(tls: EtcdTlsFiles): { rootCertificate: Buffer; certChain?: Buffer; privateKey?: Buffer } {
  const read = (path: string, flag: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new TrellisError(ErrorCodes.BAD_FLAG, `--${flag} ${path}: cannot read it (${messageOf(err)})`, { field: flag });
    }
  };
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new TrellisError(ErrorCodes.BAD_FLAG, '--etcd-cert and --etcd-key go together: give both or neither', { field: tls.cert === undefined ? 'etcd-cert' : 'etcd-key' });
  }
  return {
    rootCertificate: read(tls.ca, 'etcd-ca'),
    ...(tls.cert === undefined ? {} : { certChain: read(tls.cert, 'etcd-cert') }),
    ...(tls.key === undefined ? {} : { privateKey: read(tls.key, 'etcd-key') }),
  };
}

export function checkPrefix(prefix: string): string {
  if (prefix !== '' && (!prefix.startsWith('/') || prefix.endsWith('/'))) {
    throw new TrellisError(ErrorCodes.BAD_FLAG, `--etcd-prefix ${JSON.stringify(prefix)} must start with "/" and not end with one (e.g. /trellis), or be empty`, { field: 'etcd-prefix' });
  }
  return prefix;
}
