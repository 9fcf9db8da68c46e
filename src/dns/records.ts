/**
 * Turning instances into resource records. Every record of a response is built
 * here, so names, TTLs and the drained-instance rule live in one place.
 */
import { isIP } from 'node:net';
import type { Answer, SoaAnswer, SrvAnswer, StringAnswer } from 'dns-packet';
import { isDnsName } from './names.js';
import type { DnsInstance } from './types.js';

/** Where an instance can be reached, as DNS can express it. */
export type Target =
  | { kind: 'A' | 'AAAA'; address: string }
  | { kind: 'hostname'; hostname: string };

/** An instance DNS may hand out, with its address classified. */
export interface RoutableInstance {
  id: string;
  port: number;
  /** The SRV weight, already clamped to 1..65535. */
  weight: number;
  target: Target;
}

const MAX_SRV_WEIGHT = 0xffff;

/** Classify an address; undefined when it is neither an IP address nor a valid hostname. */
export function targetOf(address: string): Target | undefined {
  // An IPv6 zone index ("fe80::1%eth0") means nothing to a remote resolver.
  const [ip = address] = address.split('%');
  switch (isIP(ip)) {
    case 4: return { kind: 'A', address: ip };
    case 6: return { kind: 'AAAA', address: ip };
    default: {
      return isDnsName(address) ? { kind: 'hostname', hostname: address.replace(/\.$/, '') } : undefined;
    }
  }
}

/**
 * The instances DNS answers with. Drained instances (weight 0) are left out: a
 * weight of 0 means "send it nothing", and a DNS client that picked it from an A
 * answer would ignore that. Instances whose address or port cannot be expressed
 * in DNS are left out too, so that one bad registration cannot break the answer
 * for the whole service.
 */
export function routableInstances(instances: readonly DnsInstance[]): RoutableInstance[] {
  const result: RoutableInstance[] = [];
  for (const instance of instances) {
    if (!(instance.weight > 0)) continue;
    if (!Number.isInteger(instance.port) || instance.port < 1 || instance.port > 0xffff) continue;
    const target = targetOf(instance.address);
    if (target === undefined) continue;
    const weight = Math.min(MAX_SRV_WEIGHT, Math.max(1, Math.round(instance.weight)));
    result.push({ id: instance.id, port: instance.port, weight, target });
  }
  return result;
}

/** Builds records with one owner-independent TTL. */
export class RecordBuilder {
  constructor(
    private readonly domain: string,
    private readonly ttl: number,
  ) {}

  /** An A or AAAA record. */
  address(name: string, type: 'A' | 'AAAA', address: string): StringAnswer {
    return { name, type, ttl: this.ttl, class: 'IN', data: address };
  }

  /**
   * One A/AAAA record per distinct address of `type` among `instances`
   * (two instances on one host give one record, as RFC 2181 §5 asks).
   */
  addresses(name: string, type: 'A' | 'AAAA', instances: readonly RoutableInstance[]): StringAnswer[] {
    const seen = new Set<string>();
    for (const { target } of instances) {
      if (target.kind === type) seen.add(target.address);
    }
    return [...seen].map((address) => this.address(name, type, address));
  }

  cname(name: string, hostname: string): StringAnswer {
    return { name, type: 'CNAME', ttl: this.ttl, class: 'IN', data: hostname };
  }

  /**
   * The SRV record of an instance and the records that go with it in the
   * additional section: the A/AAAA of its target, unless the target is a hostname
   * this zone cannot answer for.
   */
  srv(name: string, instance: RoutableInstance, targetName: string): { srv: SrvAnswer; additional: Answer[] } {
    const { target } = instance;
    const srvTarget = target.kind === 'hostname' ? target.hostname : targetName;
    const srv: SrvAnswer = {
      name,
      type: 'SRV',
      ttl: this.ttl,
      class: 'IN',
      data: { priority: 1, weight: instance.weight, port: instance.port, target: srvTarget },
    };
    const additional = target.kind === 'hostname' ? [] : [this.address(targetName, target.kind, target.address)];
    return { srv, additional };
  }

  /**
   * The zone's SOA: the answer to `SOA <domain>`, and the authority record of
   * negative answers, whose `minimum` tells resolvers how long to cache them.
   */
  soa(): SoaAnswer {
    return {
      name: this.domain,
      type: 'SOA',
      ttl: this.ttl,
      class: 'IN',
      data: {
        mname: `ns.${this.domain}`,
        rname: `hostmaster.${this.domain}`,
        // The zone has no versioned contents; a time-based serial is what Consul uses too.
        serial: Math.floor(Date.now() / 1000) >>> 0,
        refresh: 3600,
        retry: 600,
        expire: 86_400,
        minimum: this.ttl,
      },
    };
  }
}
