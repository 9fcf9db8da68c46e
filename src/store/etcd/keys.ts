/**
 * Keys and lease ids between Trellis and etcd. Every key lives under the store's namespace
 * prefix (default `/trellis`), so Trellis can share an etcd cluster with other users; lease ids
 * are etcd's int64, shown in hex as etcdctl does.
 */
import type { IKeyValue } from 'etcd3';
import type { KeyValue, LeaseId } from '../types.js';

const ZERO = Buffer.from([0]);

/** The smallest byte string greater than every string starting with `prefix` ('\0' = no end). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i -= 1) {
    if (end[i] < 0xff) {
      end[i] += 1;
      return end.subarray(0, i + 1);
    }
  }
  return ZERO;
}

export class KeyNamespace {
  readonly prefix: Buffer;

  constructor(prefix: string) {
    this.prefix = Buffer.from(prefix);
  }

  key(key: string): Buffer {
    return Buffer.concat([this.prefix, Buffer.from(key)]);
  }

  /** [key, range_end) of every key starting with `prefix` inside the namespace. */
  range(prefix: string): { key: Buffer; range_end: Buffer } {
    const start = this.key(prefix);
    return start.length === 0 ? { key: ZERO, range_end: ZERO } : { key: start, range_end: prefixEnd(start) };
  }

  has(key: Buffer): boolean {
    return key.subarray(0, this.prefix.length).equals(this.prefix);
  }

  strip(key: Buffer): string {
    return key.subarray(this.prefix.length).toString();
  }

  toKeyValue(kv: IKeyValue): KeyValue {
    return {
      key: this.strip(kv.key),
      value: kv.value.toString(),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
      lease: fromEtcdLease(kv.lease),
    };
  }
}

/** etcd's decimal int64 lease id → our hex id; '0' means no lease. */
export function fromEtcdLease(id: string | undefined): LeaseId | undefined {
  if (id === undefined || id === '0' || id === '') return undefined;
  return BigInt(id).toString(16);
}

/** Our hex id → etcd's decimal; undefined when it cannot be an etcd lease id at all. */
export function toEtcdLease(id: LeaseId): string | undefined {
  if (!/^[0-9a-f]{1,16}$/.test(id)) return undefined;
  const value = BigInt(`0x${id}`);
  return value > 0n && value < 2n ** 63n ? value.toString() : undefined;
}
