/**
 * The ACK/NACK bookkeeping of one ADS stream, state of the world or incremental: the nonce of
 * each response (one counter per stream), which response the client must answer per type, and
 * what a request's `response_nonce` says — nothing (a first request), stale (an answer to an
 * older response, which the protocol says to ignore), an ACK (its version is remembered), or a
 * NACK (counted and logged with the client's reason: the first per stream at warn, repeats at
 * debug; never answered by resending the refused version).
 */
import type { Logger } from 'pino';
import { ThrottledLog } from '../../util/throttled-log.js';
import { TYPE_URLS, type ResourceKind } from './protos.js';

export interface StreamCounters {
  responses: number;
  acks: number;
  nacks: number;
}

/** What a request carries about our responses (both request kinds have these fields). */
export interface ResponseAnswer {
  response_nonce?: string;
  version_info?: string;
  error_detail?: { code?: number; message?: string } | null;
}

export type Verdict = 'none' | 'stale' | 'ack' | 'nack';

export class AckTracker {
  readonly counters: StreamCounters = { responses: 0, acks: 0, nacks: 0 };
  readonly #nackLog: ThrottledLog;
  /** Per type, the nonce of the last response sent. */
  readonly #pending = new Map<ResourceKind, string>();
  /** Per type, the version the client last ACKed. */
  readonly #acked = new Map<ResourceKind, string>();
  #next = 0;

  constructor(logger: Logger) {
    this.#nackLog = new ThrottledLog(logger, 'xds: a client rejected (NACK) a version');
  }

  /** The nonce of a new response of `kind` (the one the client must answer from now on); `shared`: a nonce given with a shared response. */
  sent(kind: ResourceKind, shared?: string): string {
    this.#next += 1;
    const nonce = shared ?? String(this.#next);
    this.#pending.set(kind, nonce);
    this.counters.responses += 1;
    return nonce;
  }

  /** Whether any response of `kind` went out on this stream. */
  hasSent(kind: ResourceKind): boolean {
    return this.#pending.has(kind);
  }

  /** The version of `kind` the client last ACKed; undefined before its first ACK. */
  acked(kind: ResourceKind): string | undefined {
    return this.#acked.get(kind);
  }

  /** What `request` says about our last response of `kind`; a NACK is logged with the client's reason. */
  receive(kind: ResourceKind, request: ResponseAnswer, node: string | undefined): Verdict {
    const nonce = request.response_nonce ?? '';
    const pending = this.#pending.get(kind);
    // A nonce for a type we never answered on this stream is treated as a first request.
    if (nonce === '' || pending === undefined) return 'none';
    if (nonce !== pending) return 'stale';
    const error = request.error_detail;
    if (error === undefined || error === null) {
      this.counters.acks += 1;
      this.#acked.set(kind, request.version_info ?? '');
      return 'ack';
    }
    this.counters.nacks += 1;
    this.#nackLog.report({ node, typeUrl: TYPE_URLS[kind], rejectedNonce: nonce, keptVersion: request.version_info ?? '', reason: error.message ?? '(no reason given)', grpcCode: error.code ?? 0 });
    return 'nack';
  }
}
