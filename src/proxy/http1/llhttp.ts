/**
 * Node's own native HTTP/1 parser (llhttp, the binding node:http runs), as typed here: the
 * only parser of the raw-socket HTTP/1 path — never a hand-written one. Strict: no lenient
 * flags, so llhttp itself refuses Content-Length with Transfer-Encoding, duplicate or bad
 * Content-Length, obs-fold, bare CR/LF, invalid header bytes and bad chunk framing.
 *
 * The callbacks are set per parser (slots kOnHeadersComplete…); a head with more than 32
 * header pairs arrives in pieces through kOnHeaders first, then kOnHeadersComplete gets
 * `undefined` headers and url.
 */
import { createRequire } from 'node:module';

export interface ParserError extends Error {
  readonly code: string;
  readonly reason?: string;
  readonly bytesParsed?: number;
}

export interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Bytes parsed, or the parse error (then the parser is unusable). */
  execute(data: Buffer): number | ParserError;
  /** End of input: completes a read-until-close body, or the error of a truncated message. */
  finish(): undefined | ParserError;
  close(): void;
  free(): void;
  remove(): void;
  [slot: number]: unknown;
}

interface HttpCommon {
  readonly HTTPParser: {
    new (): LlhttpParser;
    readonly REQUEST: number;
    readonly RESPONSE: number;
    readonly kOnMessageBegin: number;
    readonly kOnHeaders: number;
    readonly kOnHeadersComplete: number;
    readonly kOnBody: number;
    readonly kOnMessageComplete: number;
    readonly kOnExecute: number;
    readonly kLenientNone: number;
  };
  readonly methods: readonly string[];
}

const common = createRequire(import.meta.url)('_http_common') as HttpCommon;

export const HTTPParser = common.HTTPParser;
/** Method names by llhttp's method index (kOnHeadersComplete's 4th argument). */
export const METHODS = common.methods;
export const { REQUEST, RESPONSE, kOnMessageBegin, kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete } = common.HTTPParser;
export const LENIENT_NONE = common.HTTPParser.kLenientNone;

/** kOnHeadersComplete's answers: go on; no body follows (a response to HEAD); no body, the connection is upgraded (CONNECT, Upgrade). */
export const HEAD_CONTINUE = 0;
export const HEAD_SKIP_BODY = 1;
export const HEAD_UPGRADE = 2;

/**
 * A parser for one connection: requests (server side) or responses (upstream side), with
 * `maxHeaderSize` (the whole head, request line included) and no lenient flags.
 */
export function newParser(type: number, maxHeaderSize: number): LlhttpParser {
  const parser = new HTTPParser();
  // The resource llhttp's async hooks see: one per connection (node:http gives one per message).
  // Not shared, not frozen: an AsyncLocalStorage in the process (an APM agent, OpenTelemetry's
  // context manager, a test driver) writes its store onto it — a frozen one made every accept throw.
  parser.initialize(type, {}, maxHeaderSize, LENIENT_NONE);
  return parser;
}
