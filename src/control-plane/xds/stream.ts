/**
 * One state-of-the-world ADS stream (envoy.service.discovery.v3, StreamAggregatedResources).
 *
 * Per resource type the client names what it subscribes to (an empty first request for
 * listeners or clusters is the wildcard: all of them); the server answers with every subscribed
 * resource that exists, at the snapshot's version, and answers again whenever one of them
 * changes or goes away. A request carrying the last response's nonce is an ACK, or with
 * `error_detail` a NACK: logged with the client's reason (the first at warn, repeats at debug),
 * never answered by resending the version it refused. A request with an older nonce is stale
 * and ignored (the xDS protocol). Types the server does not serve are ignored.
 */
import type { Logger } from 'pino';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { ThrottledLog } from '../../util/throttled-log.js';
import { AckTracker, type StreamCounters } from './acks.js';
import { TYPE_URLS, type ResourceKind } from './protos.js';
import type { ResponseCache } from './responses.js';
import type { XdsResource, XdsSnapshot } from './view.js';

/** A DiscoveryRequest as proto-loader decodes it (keepCase, defaults off). */
export interface DiscoveryRequest {
  version_info?: string;
  node?: XdsNode;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

export interface XdsNode {
  id?: string;
  cluster?: string;
  /** google.protobuf.Struct, decoded with protobufjs's own (camelCase) well-known types. */
  metadata?: { fields?: Record<string, { stringValue?: string }> };
  user_agent_name?: string;
}

export interface DiscoveryResponse {
  version_info: string;
  resources: unknown[];
  type_url: string;
  nonce: string;
  control_plane: { identifier: string };
}

/** Names a client may subscribe to per type: more is refused as a bad request. */
export const MAX_NAMES_PER_TYPE = 10_000;

export const kindByUrl: ReadonlyMap<string, ResourceKind> = new Map(Object.entries(TYPE_URLS).map(([kind, url]) => [url, kind as ResourceKind]));
/** Types for which an empty first request means every resource (the legacy wildcard). */
export const WILDCARD_KINDS: ReadonlySet<ResourceKind> = new Set(['listener', 'cluster']);

/** What the server needs of a stream, state of the world or incremental. */
export interface XdsStreamState<Request> {
  readonly counters: StreamCounters;
  readonly node: XdsNode | undefined;
  request(request: Request): void;
  update(snapshot: XdsSnapshot): void;
}

/** The checks both kinds of stream share: unknown types, too many names; and their ACK/NACK bookkeeping (acks.ts). */
export class StreamPolicing {
  readonly acks: AckTracker;
  readonly #unknownTypeLog: ThrottledLog;

  constructor(logger: Logger) {
    this.acks = new AckTracker(logger);
    this.#unknownTypeLog = new ThrottledLog(logger, 'xds: a client asked for a resource type this server does not serve');
  }

  get counters(): StreamCounters {
    return this.acks.counters;
  }

  /** The kind a request is for; undefined (logged, throttled) for a type this server does not serve. */
  kind(typeUrl: string | undefined, node: XdsNode | undefined): ResourceKind | undefined {
    const kind = kindByUrl.get(typeUrl ?? '');
    if (kind === undefined) this.#unknownTypeLog.report({ node: node?.id, typeUrl });
    return kind;
  }

  /** @throws TrellisError XDS_BAD_REQUEST when a request names more than MAX_NAMES_PER_TYPE resources. */
  checkNames(count: number, typeUrl: string): void {
    if (count > MAX_NAMES_PER_TYPE) {
      throw new TrellisError(ErrorCodes.XDS_BAD_REQUEST, `a request names ${count} resources of ${typeUrl}; at most ${MAX_NAMES_PER_TYPE} are served per stream`);
    }
  }
}

interface Subscription {
  readonly kind: ResourceKind;
  names: ReadonlySet<string> | 'wildcard';
  /** The names as a key of the shared responses (responses.ts). */
  key: string;
  /** What was last sent per name: its version (absent: not sent). */
  sent: Map<string, number>;
}

export class AdsStream implements XdsStreamState<DiscoveryRequest> {
  readonly #send: (response: Buffer) => void;
  readonly #responses: ResponseCache;
  readonly #logger: Logger;
  readonly #subscriptions = new Map<ResourceKind, Subscription>();
  readonly #police: StreamPolicing;
  #snapshot: XdsSnapshot;
  node: XdsNode | undefined;

  /** `send` writes an encoded DiscoveryResponse; `responses` is the server's cache of them. */
  constructor(snapshot: XdsSnapshot, send: (response: Buffer) => void, logger: Logger, responses: ResponseCache) {
    this.#snapshot = snapshot;
    this.#send = send;
    this.#responses = responses;
    this.#logger = logger;
    this.#police = new StreamPolicing(logger);
  }

  get counters(): StreamCounters {
    return this.#police.counters;
  }

  /**
   * One request of the client.
   * @throws TrellisError XDS_BAD_REQUEST for a request the stream cannot go on with (it is closed).
   */
  request(request: DiscoveryRequest): void {
    if (request.node !== undefined && request.node !== null) this.node = request.node;
    const kind = this.#police.kind(request.type_url, this.node);
    if (kind === undefined) return;
    const names = request.resource_names ?? [];
    this.#police.checkNames(names.length, TYPE_URLS[kind]);
    const acks = this.#police.acks;
    const sentBefore = acks.hasSent(kind);
    const verdict = acks.receive(kind, request, this.node?.id);
    if (verdict === 'stale') return; // the client has not seen our latest answer yet
    let sub = this.#subscriptions.get(kind);
    if (sub === undefined) {
      sub = { kind, names: new Set(), key: '', sent: new Map() };
      this.#subscriptions.set(kind, sub);
    }
    const wildcard = names.length === 0 && WILDCARD_KINDS.has(kind) && (sub.names === 'wildcard' || !sentBefore);
    const wanted: ReadonlySet<string> | 'wildcard' = wildcard ? 'wildcard' : new Set(names);
    const changed = !sameNames(sub.names, wanted);
    sub.names = wanted;
    if (changed) sub.key = wanted === 'wildcard' ? '*' : [...wanted].sort().join(',');
    if (changed) {
      // Names no longer subscribed are forgotten: a later subscription sends them again.
      if (wanted !== 'wildcard') for (const name of sub.sent.keys()) if (!wanted.has(name)) sub.sent.delete(name);
      this.#answer(sub, true);
    } else if (verdict === 'none') {
      // A first request (or a reconnect's with the same names): always answered.
      this.#answer(sub, true);
    }
  }

  /** A new snapshot: answer every subscription one of whose resources changed. */
  update(snapshot: XdsSnapshot): void {
    this.#snapshot = snapshot;
    for (const sub of this.#subscriptions.values()) this.#answer(sub, false);
  }

  #selected(sub: Subscription): XdsResource[] {
    const all = this.#snapshot.resources[sub.kind];
    if (sub.names === 'wildcard') return [...all.values()];
    const out: XdsResource[] = [];
    for (const name of sub.names) {
      const resource = all.get(name);
      if (resource !== undefined) out.push(resource);
    }
    return out;
  }

  /** Send the subscription's resources when forced or when any of them changed, appeared or went away. */
  #answer(sub: Subscription, force: boolean): void {
    const selected = this.#selected(sub);
    if (!force) {
      const changed = selected.length !== sub.sent.size || selected.some((r) => sub.sent.get(r.name) !== r.version);
      if (!changed) return;
    }
    sub.sent = new Map(selected.map((r) => [r.name, r.version]));
    const response = this.#responses.get(this.#snapshot, sub.kind, sub.key, selected);
    this.#police.acks.sent(sub.kind, response.nonce);
    this.#send(response.bytes);
    if (this.#logger.isLevelEnabled('debug')) this.#logger.debug({ node: this.node?.id, typeUrl: TYPE_URLS[sub.kind], version: this.#snapshot.version, resources: selected.length }, 'xds: pushed');
  }
}

function sameNames(a: ReadonlySet<string> | 'wildcard', b: ReadonlySet<string> | 'wildcard'): boolean {
  if (a === 'wildcard' || b === 'wildcard') return a === b;
  if (a.size !== b.size) return false;
  for (const name of a) if (!b.has(name)) return false;
  return true;
}
