/**
 * Several control-plane replicas on one store. Each keeps a membership key on a lease of its own
 * under /control-plane/members/ (kept alive like any heartbeat) and follows the prefix, so every
 * replica sees the same set of live members. An instance's active checks belong to the member
 * with the highest rendezvous hash of (member, instance): each instance is checked by exactly one
 * live replica, only ~1/n of the instances move when a replica comes or goes, and when a replica
 * dies its lease expires and the others take its instances over.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import type { KvStore, LeaseId } from '../store/types.js';
import { follow, type Follower } from '../util/follow.js';

export const MEMBERS_PREFIX = '/control-plane/members/';
export const DEFAULT_MEMBER_TTL_MS = 2_000;

export interface MemberRecord {
  id: string;
  /** The replica's API URL. */
  url: string;
  since: string;
}

export interface ReplicaSet {
  readonly id: string;
  /** Live members, sorted by id. */
  members(): MemberRecord[];
  /** Does this replica own (actively check) the instance? */
  owns(instance: { service: string; id: string }): boolean;
  /** Called after the set of live members changed. */
  onChange(listener: () => void): void;
  close(): Promise<void>;
}

export interface JoinOptions {
  url: string;
  id?: string;
  ttlMs?: number;
}

export function defaultReplicaId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

function score(member: string, instanceRef: string): bigint {
  return createHash('sha256').update(member).update('\0').update(instanceRef).digest().readBigUInt64BE(0);
}

/** Rendezvous (highest random weight) hashing: the owner of `ref` among `members`. */
export function ownerOf(members: readonly string[], ref: string): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const member of members) {
    const s = score(member, ref);
    if (s > bestScore || (s === bestScore && best !== undefined && member < best)) {
      best = member;
      bestScore = s;
    }
  }
  return best;
}

export async function joinReplicaSet(store: KvStore, logger: Logger, options: JoinOptions): Promise<ReplicaSet> {
  const id = options.id ?? defaultReplicaId();
  const ttlMs = options.ttlMs ?? DEFAULT_MEMBER_TTL_MS;
  const key = `${MEMBERS_PREFIX}${id}`;
  const record: MemberRecord = { id, url: options.url, since: new Date().toISOString() };
  const members = new Map<string, MemberRecord>();
  const listeners: Array<() => void> = [];
  let closed = false;
  let lease: LeaseId | undefined;

  const register = async (): Promise<void> => {
    const grant = await store.grantLease(ttlMs);
    await store.put(key, JSON.stringify(record), { lease: grant.id });
    lease = grant.id;
  };
  const changed = (): void => {
    for (const listener of listeners) {
      try { listener(); } catch (err) { logger.error({ err: messageOf(err) }, 'replica-set listener failed'); }
    }
  };

  await register();
  // Keep-alives a few times per TTL; a lost lease (etcd partitioned us away too long) rejoins.
  let renewing = false;
  const timer = setInterval(() => {
    if (renewing || closed) return;
    renewing = true;
    const renew = lease === undefined ? register() : store.keepAlive(lease).then(() => undefined);
    renew.catch(async (err: unknown) => {
      if (err instanceof TrellisError && err.code === ErrorCodes.LEASE_NOT_FOUND) {
        logger.warn({ replica: id }, 'control-plane membership lease expired; rejoining');
        lease = undefined;
        await register();
        return;
      }
      logger.warn({ replica: id, err: messageOf(err) }, 'could not renew control-plane membership');
    }).catch((err: unknown) => logger.warn({ replica: id, err: messageOf(err) }, 'could not rejoin the control-plane members'))
      .finally(() => { renewing = false; });
  }, Math.max(100, Math.floor(ttlMs / 3)));
  timer.unref();

  const follower: Follower = await follow('replica-set', logger, async (fail) => {
    const { kvs, revision } = await store.range(MEMBERS_PREFIX);
    members.clear();
    for (const kv of kvs) members.set(kv.key.slice(MEMBERS_PREFIX.length), JSON.parse(kv.value) as MemberRecord);
    changed();
    return store.watch(MEMBERS_PREFIX, { afterRevision: revision }, {
      onEvent: (event) => {
        const member = event.key.slice(MEMBERS_PREFIX.length);
        const before = members.has(member);
        if (event.type === 'delete') members.delete(member);
        else members.set(member, JSON.parse(event.value ?? '{}') as MemberRecord);
        if (before !== members.has(member)) {
          logger.info({ replica: id, member, event: event.type === 'delete' ? 'left' : 'joined', members: members.size }, 'control-plane members changed');
          changed();
        }
      },
      onError: fail,
    });
  }, 250);
  logger.info({ replica: id, members: members.size }, 'joined the control-plane replica set');

  return {
    id,
    members: () => [...members.values()].sort((a, b) => a.id.localeCompare(b.id)),
    owns: (instance) => members.has(id) && ownerOf([...members.keys()], `${instance.service}/${instance.id}`) === id,
    onChange: (listener) => { listeners.push(listener); },
    async close() {
      closed = true;
      clearInterval(timer);
      follower.close();
      // Leave at once, so the others take over now rather than after the TTL.
      if (lease !== undefined) await store.revokeLease(lease).catch(() => undefined);
    },
  };
}
