/**
 * Encoding a response within a size limit: the UDP payload size, or the 64 KiB
 * of a TCP message.
 */
import dnsPacket, { type Answer, type Packet } from 'dns-packet';
import { HEADER_BYTES, isOpt } from './protocol.js';

/** Bytes one record adds to a message (dns-packet does not compress names). */
function recordLength(record: Answer): number {
  return dnsPacket.encodingLength({ answers: [record] }) - HEADER_BYTES;
}

/**
 * Encode `response`; if it is larger than `limit` bytes, set TC and keep only the
 * answers that fit (and the OPT record), so the client knows to retry over TCP
 * (RFC 1035 §4.2.1, RFC 2181 §9). A client must not use a truncated answer, so
 * which records are kept matters little; the answers in order is the simplest.
 */
export function encodeWithin(response: Packet, limit: number): Buffer {
  const full = dnsPacket.encode(response);
  if (full.length <= limit) return full;
  const answers: Answer[] = [];
  const truncated: Packet = {
    ...response,
    flags: (response.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
    answers,
    authorities: [],
    additionals: (response.additionals ?? []).filter(isOpt),
  };
  let size = dnsPacket.encodingLength(truncated);
  for (const record of response.answers ?? []) {
    size += recordLength(record);
    if (size > limit) break;
    answers.push(record);
  }
  return dnsPacket.encode(truncated);
}
