/**
 * One incremental ADS stream (envoy.service.discovery.v3, DeltaAggregatedResources).
 *
 * Per type the client subscribes and unsubscribes names (`*`, or nothing at all in the first
 * request for listeners and clusters, is the wildcard) and may say which versions it already
 * has (`initial_resource_versions`, on a reconnect). The server sends only what changed: each
 * resource whose version differs from the one the client has, and the names of subscribed
 * resources that went away (`removed_resources`). ACK and NACK as in the state-of-the-world
 * stream: a NACK is logged with its reason and never answered by a resend.
 */
import type { Logger } from 'pino';
import { TYPE_URLS, type ResourceKind } from './protos.js';
import type { StreamCounters } from './acks.js';
import { StreamPolicing, WILDCARD_KINDS, type XdsNode, type XdsStreamState } from './stream.js';
import type { XdsSnapshot } from './view.js';

export interface DeltaDiscoveryRequest {
  node?: XdsNode;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

export interface DeltaDiscoveryResponse {
  system_version_info: string;
  resources: Array<{ name: string; version: string; resource: unknown }>;
  type_url: string;
  removed_resources: string[];
  nonce: string;
  control_plane: { identifier: string };
}

interface DeltaSubscription {
  readonly kind: ResourceKind;
  wildcard: boolean;
  readonly names: Set<string>;
  /** The version the client has of each resource (what we sent, or what it said it had). */
  readonly has: Map<string, string>;
}

export class DeltaAdsStream implements XdsStreamState<DeltaDiscoveryRequest> {
  readonly #send: (response: DeltaDiscoveryResponse) => void;
  readonly #police: StreamPolicing;
  readonly #subscriptions = new Map<ResourceKind, DeltaSubscription>();
  #snapshot: XdsSnapshot;
  node: XdsNode | undefined;

  constructor(snapshot: XdsSnapshot, send: (response: DeltaDiscoveryResponse) => void, logger: Logger) {
    this.#snapshot = snapshot;
    this.#send = send;
    this.#police = new StreamPolicing(logger);
  }

  get counters(): StreamCounters {
    return this.#police.counters;
  }

  /** @throws TrellisError XDS_BAD_REQUEST for a request naming too many resources. */
  request(request: DeltaDiscoveryRequest): void {
    if (request.node !== undefined && request.node !== null) this.node = request.node;
    const kind = this.#police.kind(request.type_url, this.node);
    if (kind === undefined) return;
    const subscribe = request.resource_names_subscribe ?? [];
    const unsubscribe = request.resource_names_unsubscribe ?? [];
    let sub = this.#subscriptions.get(kind);
    const first = sub === undefined;
    if (sub === undefined) {
      sub = { kind, wildcard: false, names: new Set(), has: new Map() };
      this.#subscriptions.set(kind, sub);
      for (const [name, version] of Object.entries(request.initial_resource_versions ?? {})) sub.has.set(name, version);
      if (subscribe.length === 0 && WILDCARD_KINDS.has(kind)) sub.wildcard = true;
    }
    // Stale answers still carry subscription changes: only the verdict is ignored.
    this.#police.acks.receive(kind, request, this.node?.id);
    for (const name of subscribe) {
      if (name === '*') sub.wildcard = true;
      else sub.names.add(name);
    }
    for (const name of unsubscribe) {
      if (name === '*') sub.wildcard = false;
      else {
        sub.names.delete(name);
        sub.has.delete(name);
      }
    }
    this.#police.checkNames(sub.names.size, TYPE_URLS[kind]);
    if (first || subscribe.length > 0 || unsubscribe.length > 0) this.#answer(sub);
  }

  update(snapshot: XdsSnapshot): void {
    this.#snapshot = snapshot;
    for (const sub of this.#subscriptions.values()) this.#answer(sub);
  }

  #answer(sub: DeltaSubscription): void {
    const all = this.#snapshot.resources[sub.kind];
    const wanted = sub.wildcard ? new Set([...all.keys(), ...sub.names]) : sub.names;
    const resources: DeltaDiscoveryResponse['resources'] = [];
    const removed: string[] = [];
    for (const name of wanted) {
      const resource = all.get(name);
      const version = resource === undefined ? undefined : String(resource.version);
      if (resource !== undefined && version !== undefined && sub.has.get(name) !== version) {
        resources.push({ name, version, resource: resource.any });
        sub.has.set(name, version);
      } else if (resource === undefined && sub.has.has(name)) {
        removed.push(name);
        sub.has.delete(name);
      }
    }
    if (resources.length === 0 && removed.length === 0 && this.#police.acks.hasSent(sub.kind)) return;
    this.#send({
      system_version_info: String(this.#snapshot.version), resources, type_url: TYPE_URLS[sub.kind],
      removed_resources: removed, nonce: this.#police.acks.sent(sub.kind), control_plane: { identifier: 'trellis' },
    });
  }
}
