/**
 * The authoritative logic: the sections of the answer to one question. Knows
 * names and records, nothing of packets or sockets.
 */
import type { Answer, Question } from 'dns-packet';
import { instanceName, parseName } from './names.js';
import { Rcode } from './protocol.js';
import { RecordBuilder, routableInstances, type RoutableInstance } from './records.js';
import type { DnsLookup } from './types.js';

/** The outcome of answering a question: a response code and three record sections. */
export interface Sections {
  rcode: Rcode;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

export interface ZoneOptions {
  /** Normalized (see normalizeDomain). */
  domain: string;
  ttlSeconds: number;
  lookup: DnsLookup;
}

/** A response code with no records. */
export function emptySections(rcode: Rcode): Sections {
  return { rcode, answers: [], authorities: [], additionals: [] };
}

/** Whether a query of type `qtype` asks for records of type `type`. */
function wants(qtype: string, type: string): boolean {
  return qtype === type || qtype === 'ANY';
}

export class Zone {
  private readonly records: RecordBuilder;

  constructor(private readonly options: ZoneOptions) {
    this.records = new RecordBuilder(options.domain, options.ttlSeconds);
  }

  /**
   * Answer one question. Rejects only when the lookup does (the caller answers
   * SERVFAIL).
   *
   * - a name outside the domain: REFUSED;
   * - an unknown service or instance, or a name that cannot exist: NXDOMAIN;
   * - a name that exists but has no record of the asked type (no healthy
   *   instance, or an unsupported type): NOERROR with an empty answer.
   *
   * Negative answers carry the zone's SOA in the authority section (RFC 2308).
   */
  async answer(question: Question): Promise<Sections> {
    const { name, type } = question;
    const parsed = parseName(name, this.options.domain);
    switch (parsed.kind) {
      case 'outside':
        return emptySections(Rcode.REFUSED);
      case 'nonexistent':
        return this.negative(Rcode.NXDOMAIN);
      case 'apex':
        return this.positive(wants(type, 'SOA') ? [this.records.soa()] : []);
      case 'service': {
        const instances = await this.instancesOf(parsed.service);
        return instances === undefined ? this.negative(Rcode.NXDOMAIN) : this.serviceAnswer(name, type, parsed.service, instances);
      }
      case 'instance': {
        const instance = (await this.instancesOf(parsed.service))?.find((i) => i.id.toLowerCase() === parsed.id);
        return instance === undefined ? this.negative(Rcode.NXDOMAIN) : this.instanceAnswer(name, type, instance);
      }
    }
  }

  private async instancesOf(service: string): Promise<RoutableInstance[] | undefined> {
    const instances = await this.options.lookup(service);
    return instances === undefined ? undefined : routableInstances(instances);
  }

  /** A, AAAA and SRV (with the targets' addresses as additional records) of a service. */
  private serviceAnswer(name: string, qtype: string, service: string, instances: readonly RoutableInstance[]): Sections {
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    if (wants(qtype, 'A')) answers.push(...this.records.addresses(name, 'A', instances));
    if (wants(qtype, 'AAAA')) answers.push(...this.records.addresses(name, 'AAAA', instances));
    if (wants(qtype, 'SRV')) {
      for (const instance of instances) {
        const { srv, additional } = this.records.srv(name, instance, instanceName(instance.id, service, this.options.domain));
        answers.push(srv);
        additionals.push(...additional);
      }
    }
    return this.positive(answers, additionals);
  }

  /**
   * The address of one instance. An instance registered with a hostname is an
   * alias of that hostname: a CNAME, whatever the type asked (RFC 1034 §3.6.2).
   */
  private instanceAnswer(name: string, qtype: string, { target }: RoutableInstance): Sections {
    if (target.kind === 'hostname') return this.positive([this.records.cname(name, target.hostname)]);
    return this.positive(wants(qtype, target.kind) ? [this.records.address(name, target.kind, target.address)] : []);
  }

  /** NOERROR with these records; with none, the NOERROR/NODATA form of a negative answer. */
  private positive(answers: Answer[], additionals: Answer[] = []): Sections {
    return answers.length === 0 ? this.negative(Rcode.NOERROR) : { rcode: Rcode.NOERROR, answers, authorities: [], additionals };
  }

  private negative(rcode: Rcode): Sections {
    return { ...emptySections(rcode), authorities: [this.records.soa()] };
  }
}
