/**
 * Hashing for the consistent-hashing strategies, built on node:crypto so that keys
 * spread uniformly whatever their shape ("user-1", "user-2", … included).
 * Only uniformity matters here, not secrecy: hashes are truncated to 32 bits.
 */
import { createHash, hash } from 'node:crypto';

/** crypto.hash (one-shot, ~3× faster) exists from Node 20.12; fall back for older 20.x. */
const sha1Hex: (input: string) => string = typeof hash === 'function'
  ? (input) => hash('sha1', input, 'hex')
  : (input) => createHash('sha1').update(input).digest('hex');

/** 32-bit hash of a request's hash key. */
export function hashKey(key: string): number {
  return Number.parseInt(sha1Hex(key).slice(0, 8), 16);
}

/**
 * `count` independent 32-bit points derived from `seed`, from the SHAKE-256
 * extendable output. The stream is prefix-stable: the first k points of a seed are
 * the same whatever `count` is, so giving an endpoint more points adds points and
 * moves none.
 */
export function hashPoints(seed: string, count: number): Uint32Array {
  const bytes = createHash('shake256', { outputLength: 4 * count }).update(seed).digest();
  const points = new Uint32Array(count);
  for (let i = 0; i < count; i++) points[i] = bytes.readUInt32BE(4 * i);
  return points;
}
