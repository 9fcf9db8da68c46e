/**
 * DNS wire constants the server needs beyond what `dns-packet` exports
 * (RFC 1035, RFC 6891).
 */
import type { Answer, OptAnswer } from 'dns-packet';

/**
 * Response codes. Codes above 15 are EDNS0 extended codes (RFC 6891 §6.1.3):
 * the low 4 bits go in the header, the rest in the OPT record.
 */
export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
} as const;
export type Rcode = (typeof Rcode)[keyof typeof Rcode];

/** The header flag bits copied from a query into its response: opcode, RD and CD. */
export const OPCODE_MASK = 0xf << 11;
export const OPCODE_QUERY = 0;

/** Without EDNS0 a UDP answer must fit in 512 bytes (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_LIMIT = 512;
/** The largest UDP payload this server sends, whatever a client advertises. */
export const MAX_UDP_PAYLOAD = 4096;
/** A DNS message over TCP is prefixed by a 16-bit length (RFC 1035 §4.2.2). */
export const MAX_TCP_MESSAGE = 0xffff;
export const HEADER_BYTES = 12;

/** The opcode of a header's flags. */
export function opcodeOf(flags: number): number {
  return (flags & OPCODE_MASK) >> 11;
}

export function isOpt(record: Answer): record is OptAnswer {
  return record.type === 'OPT';
}
