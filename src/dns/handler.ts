/**
 * One DNS message in, one out: decoding, validation, EDNS0, error mapping and
 * size limits. Shared by the UDP and TCP listeners, which only move bytes.
 */
import dnsPacket, { type DecodedPacket, type OptAnswer, type Packet, type Question } from 'dns-packet';
import { messageOf } from '../errors.js';
import { encodeWithin } from './encode.js';
import {
  CLASSIC_UDP_LIMIT,
  HEADER_BYTES,
  MAX_TCP_MESSAGE,
  MAX_UDP_PAYLOAD,
  OPCODE_MASK,
  OPCODE_QUERY,
  Rcode,
  isOpt,
  opcodeOf,
} from './protocol.js';
import { ThrottledLog } from '../util/throttled-log.js';
import { emptySections, type Sections, type Zone } from './zone.js';
import type { DnsLogger } from './types.js';

/** Where a message came from, for the size limit and for logs. */
export interface MessageSource {
  transport: 'udp' | 'tcp';
  address: string;
  port: number;
}

export type HandleResult =
  | { kind: 'reply'; bytes: Buffer }
  /**
   * Bytes that are not a DNS query. Over UDP, send `reply` (a FORMERR) if there
   * is one; over TCP, close the connection: the stream cannot be trusted.
   */
  | { kind: 'malformed'; reply: Buffer | undefined };

/** Header bits a response copies from its query: the opcode, RD and CD. */
const COPIED_FLAGS = OPCODE_MASK | dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED;
/** QR (response) is the top bit of the header's third byte, the first byte of the flags. */
const QR_BIT = 0x80;

/** How large a response may be: 64 KiB over TCP; over UDP 512 bytes, or what EDNS0 advertises (RFC 6891 §6.2.5) up to 4096. */
function sizeLimit(transport: MessageSource['transport'], opt: OptAnswer | undefined): number {
  if (transport === 'tcp') return MAX_TCP_MESSAGE;
  if (opt === undefined) return CLASSIC_UDP_LIMIT;
  return Math.min(MAX_UDP_PAYLOAD, Math.max(CLASSIC_UDP_LIMIT, opt.udpPayloadSize));
}

/**
 * A FORMERR for bytes that do not decode, if they are worth one: the id must be
 * readable, and the bytes must not claim to be a response (answering responses
 * could start a loop between two servers).
 */
function formerrFor(bytes: Buffer): Buffer | undefined {
  if (bytes.length < 2) return undefined;
  if (bytes.length >= 3 && (bytes[2] & QR_BIT) !== 0) return undefined;
  return dnsPacket.encode({ id: bytes.readUInt16BE(0), type: 'response', flags: Rcode.FORMERR });
}

/**
 * Whether `questions`, decoded from `bytes`, encode back to the same bytes.
 * dns-packet decodes names lossily (a label containing a dot reads as two
 * labels, bytes that are not UTF-8 as U+FFFD) and classes it does not know
 * encode as 0. Such a question cannot be echoed, nor trusted to name what the
 * client meant: the query is answered FORMERR, without a question section.
 */
function decodedFaithfully(bytes: Buffer, questions: Question[]): boolean {
  try {
    const encoded = dnsPacket.encode({ questions }).subarray(HEADER_BYTES);
    return encoded.equals(bytes.subarray(HEADER_BYTES, HEADER_BYTES + encoded.length));
  } catch {
    return false;
  }
}

export class QueryHandler {
  private readonly badPackets: ThrottledLog;
  private readonly failures: ThrottledLog;

  constructor(
    private readonly zone: Zone,
    logger: DnsLogger | undefined,
  ) {
    this.badPackets = new ThrottledLog(logger, 'dns: ignored a malformed message');
    this.failures = new ThrottledLog(logger, 'dns: cannot answer a query, answered SERVFAIL');
  }

  /** Never rejects: every failure becomes a response code or a `malformed` result. */
  async handle(bytes: Buffer, source: MessageSource): Promise<HandleResult> {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(bytes);
    } catch (err) {
      return this.malformed(bytes, source, `does not decode: ${messageOf(err)}`);
    }
    if (query.type === 'response') return this.malformed(bytes, source, 'a response, not a query');

    const received = query.questions ?? [];
    const faithful = decodedFaithfully(bytes, received);
    const opts = (query.additionals ?? []).filter(isOpt);
    const opt = opts[0];
    const respond = (sections: Sections): HandleResult => ({
      kind: 'reply',
      bytes: this.encode(query, faithful ? received : [], opt, sections, sizeLimit(source.transport, opt)),
    });

    if (opcodeOf(query.flags ?? 0) !== OPCODE_QUERY) return respond(emptySections(Rcode.NOTIMP));
    const [question] = received;
    if (!faithful || question === undefined || received.length > 1 || opts.length > 1) return respond(emptySections(Rcode.FORMERR));
    if (opt !== undefined && opt.ednsVersion !== 0) return respond(emptySections(Rcode.BADVERS));
    if (question.class !== undefined && question.class !== 'IN' && question.class !== 'ANY') return respond(emptySections(Rcode.REFUSED));
    try {
      return respond(await this.zone.answer(question));
    } catch (err) {
      this.failures.report({ ...source, name: question.name, type: question.type, err: messageOf(err) });
      return respond(emptySections(Rcode.SERVFAIL));
    }
  }

  private malformed(bytes: Buffer, source: MessageSource, reason: string): HandleResult {
    this.badPackets.report({ ...source, bytes: bytes.length, reason });
    return { kind: 'malformed', reply: source.transport === 'udp' ? formerrFor(bytes) : undefined };
  }

  /**
   * The response to `query`: same id, `questions` echoed, AA for answers from
   * the zone (NOERROR, NXDOMAIN), an OPT record if the query had one (RFC 6891
   * §7). If the records cannot be encoded, SERVFAIL.
   */
  private encode(query: DecodedPacket, questions: Question[], opt: OptAnswer | undefined, sections: Sections, limit: number): Buffer {
    const build = ({ rcode, answers, authorities, additionals }: Sections): Packet => ({
      id: query.id ?? 0,
      type: 'response',
      flags: ((query.flags ?? 0) & COPIED_FLAGS)
        | (rcode === Rcode.NOERROR || rcode === Rcode.NXDOMAIN ? dnsPacket.AUTHORITATIVE_ANSWER : 0)
        | (rcode & 0xf),
      questions,
      answers,
      authorities,
      additionals: opt === undefined
        ? additionals
        : [...additionals, { type: 'OPT', name: '.', udpPayloadSize: MAX_UDP_PAYLOAD, extendedRcode: rcode >> 4, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
    });
    try {
      return encodeWithin(build(sections), limit);
    } catch (err) {
      this.failures.report({ name: questions[0]?.name, err: `cannot encode the answer: ${messageOf(err)}` });
      return encodeWithin(build(emptySections(Rcode.SERVFAIL)), limit);
    }
  }
}
