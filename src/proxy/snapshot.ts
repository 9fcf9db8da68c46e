/**
 * The one seam between the agent (src/agent: control-plane client, registration, presence,
 * certificates, endpoint and policy following) and the data plane (listeners + pipeline):
 * an immutable, versioned snapshot of everything the data plane routes by. The agent
 * composes a whole new snapshot on every change and publishes it; the data plane reads the
 * current one. A swap replaces one reference, so a reader sees the old snapshot or the new
 * one, never a mix; a request pins the snapshot's policy of its service when it arrives.
 * When the control plane is away the agent publishes nothing new: the last good snapshot
 * stays in force (its parts marked `stale`).
 *
 * The data plane never imports the agent; the agent imports this module.
 */
import type { Endpoint } from '../balancer/types.js';
import type { RouteSpec } from '../core/route.js';
import type { PolicySet } from '../security/authz/engine.js';
import type { UpstreamPolicy } from './types.js';

/** connecting: never synced yet; connected: following the control plane; stale: control plane lost, last state kept. */
export type SyncState = 'connecting' | 'connected' | 'stale';

/** Where an upstream's policy came from (docs/proxy.md#where-an-upstreams-policy-comes-from). */
export interface PolicySource {
  /** The control plane's service defaults in use: their revision; undefined when the service has none (or they are not known yet). */
  readonly serviceDefaultsRevision: number | undefined;
  /** The fields this sidecar's own upstream entry sets, which override the service defaults. */
  readonly overrides: readonly string[];
  /** Set when the service defaults could not be combined with the local overrides: why (then only the local entry applies). */
  readonly problem?: string;
}

/** One upstream service, as the data plane routes to it. */
export interface UpstreamView {
  readonly service: string;
  /** The endpoint table's sync state. */
  readonly state: SyncState;
  /** The registry revision the endpoints reflect. */
  readonly revision: number;
  /** Instances registered, healthy or not. */
  readonly registered: number;
  /** Healthy endpoints; an unchanged instance keeps its Endpoint object across snapshots (pools are cached on it). */
  readonly endpoints: readonly Endpoint[];
  /** The resilience policy in force: service defaults with the local overrides on top, validated and frozen. */
  readonly policy: UpstreamPolicy;
  readonly policySource: PolicySource;
  /** The traffic routes attached to the service (validated, frozen; the same array while they do not change). Absent: none. */
  readonly routes?: readonly RouteSpec[];
  /** The store revision the routes reflect (absent or 0: none read yet). */
  readonly routesRevision?: number;
  /** The routes' sync state (stale: the control plane is away and the last known routes are in force). */
  readonly routesState?: SyncState;
}

/** This service's inbound authorization policies, compiled. */
export interface AuthorizationView {
  readonly state: SyncState;
  /** The store revision the policies reflect. */
  readonly revision: number;
  /** False until the policies were read once (until then decisions wait: fail closed). */
  readonly ready: boolean;
  readonly set: PolicySet;
}

/** The workload certificate in force (mTLS on): what the handshakes present and trust. */
export interface TlsView {
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly certificatePem: string;
  readonly keyPem: string;
  readonly trustBundle: readonly string[];
  readonly notAfter: Date;
}

export interface Snapshot {
  /** 1, 2, 3…: every publish is a new version. */
  readonly version: number;
  /** Epoch ms of the publish. */
  readonly publishedAt: number;
  /** Per upstream service (only the services this sidecar calls). */
  readonly upstreams: ReadonlyMap<string, UpstreamView>;
  /** Inbound authorization; undefined for a sidecar without an app. */
  readonly authorization: AuthorizationView | undefined;
  /** undefined with mTLS off, or before the first certificate. */
  readonly tls: TlsView | undefined;
}

/** What a snapshot is made of (the cell numbers and stamps it). */
export type SnapshotContent = Omit<Snapshot, 'version' | 'publishedAt'>;

/** The data plane's view: the current snapshot, and news of the next one. */
export interface SnapshotSource {
  current(): Snapshot;
  /** Called after each publish with the new and the previous snapshot; returns an unsubscribe. */
  subscribe(listener: (next: Snapshot, previous: Snapshot) => void): () => void;
}

function freezeContent(content: SnapshotContent, version: number): Snapshot {
  return Object.freeze({
    version,
    publishedAt: Date.now(),
    upstreams: new FrozenMap(content.upstreams),
    authorization: content.authorization,
    tls: content.tls,
  });
}

/** A Map that refuses writes (a snapshot's maps are never changed after the publish). */
class FrozenMap<K, V> extends Map<K, V> {
  #sealed = false;
  constructor(entries: Iterable<readonly [K, V]>) {
    super();
    for (const [key, value] of entries) super.set(key, value);
    this.#sealed = true;
  }

  override set(key: K, value: V): this {
    if (this.#sealed) throw new TypeError('a snapshot is immutable: publish a new one');
    return super.set(key, value);
  }

  override delete(): boolean {
    throw new TypeError('a snapshot is immutable: publish a new one');
  }

  override clear(): void {
    throw new TypeError('a snapshot is immutable: publish a new one');
  }
}

/** Holds the current snapshot; the agent publishes, the data plane reads. */
export class SnapshotCell implements SnapshotSource {
  #current: Snapshot;
  readonly #listeners = new Set<(next: Snapshot, previous: Snapshot) => void>();

  constructor(initial: SnapshotContent) {
    this.#current = freezeContent(initial, 1);
  }

  current(): Snapshot {
    return this.#current;
  }

  /** Swap in a new snapshot (one reference assignment), then tell the subscribers. */
  publish(content: SnapshotContent): Snapshot {
    const previous = this.#current;
    const next = freezeContent(content, previous.version + 1);
    this.#current = next;
    for (const listener of this.#listeners) listener(next, previous);
    return next;
  }

  subscribe(listener: (next: Snapshot, previous: Snapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
