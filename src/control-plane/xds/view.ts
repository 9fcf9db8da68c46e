/**
 * The xDS server's reader of the store: every instance (a full listing, then the registry's
 * watch), every service's defaults, the traffic routes and the authorization policies, turned
 * into xDS resources per service. Changes are
 * debounced (a change after a quiet 20 ms is built at once; a burst within the window goes out
 * together at its end), only services that changed are rebuilt,
 * and a resource whose content did not change keeps its version, so a push carries what
 * changed only. Never a second source of truth: a restart re-reads everything.
 */
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../../core/clock.js';
import type { ServiceDefaults } from '../../core/service-defaults.js';
import { messageOf } from '../../errors.js';
import { DEFAULT_UPSTREAM_POLICY, parseUpstreamPolicy } from '../../proxy/policy.js';
import type { UpstreamPolicy } from '../../proxy/types.js';
import type { Registry } from '../../registry/registry.js';
import type { RegistryEvent } from '../../registry/types.js';
import type { RouteEvent, RouteSpec, StoredRoute } from '../../core/route.js';
import { parseRoute } from '../../proxy/routing/schema.js';
import { inSubset } from '../../proxy/discovery/cluster.js';
import { DEFAULT_SCOPE } from '../../security/authz/engine.js';
import type { PolicyEvent } from '../../security/authz/store.js';
import { MESH_WIDE, type MeshScope, type Policy, type StoredPolicy } from '../../security/authz/types.js';
import { spiffeId } from '../../security/spiffe.js';
import { follow, type Follower, type Watcher } from '../../util/follow.js';
import type { ServiceDefaultsStore } from '../service-defaults/store.js';
import { serverListener, serverListenerName } from './inbound.js';
import { encodeAny, type EncodedAny, type ResourceKind } from './protos.js';
import { rbacFilters } from './rbac.js';
import { cluster, listener, loadAssignment, type InstanceView, type ResourceBody } from './resources.js';
import { routeConfiguration, subsetsOf } from './routes.js';

export interface XdsResource {
  readonly name: string;
  /** The snapshot version in which this resource last changed. */
  readonly version: number;
  readonly body: ResourceBody;
  readonly json: string;
  /** The body encoded once, as every stream sends it. */
  readonly any: EncodedAny;
}

export interface XdsSnapshot {
  readonly version: number;
  readonly resources: Readonly<Record<ResourceKind, ReadonlyMap<string, XdsResource>>>;
}

interface Listener<E> { onEvent(event: E): void; onError(error: Error): void }

/** The traffic routes, as the control plane's route store gives them (list, then watch from its revision). */
export interface RouteSource {
  list(): Promise<{ routes: StoredRoute[]; revision: number }>;
  watch(options: { afterRevision: number }, listener: Listener<RouteEvent>): Promise<Watcher>;
}

/** The authorization policies (the policy store). */
export interface PolicySource {
  list(): Promise<{ policies: StoredPolicy[]; revision: number }>;
  watch(options: { afterRevision: number }, listener: Listener<PolicyEvent>): Promise<Watcher>;
}

export interface XdsViewOptions {
  readonly registry: Registry;
  readonly serviceDefaults: ServiceDefaultsStore;
  readonly routes?: RouteSource;
  readonly policies?: PolicySource;
  /** The mesh's trust domain and federation: SPIFFE IDs of services, RBAC principals (default trellis.local). */
  readonly scope?: MeshScope;
  /** Mutual TLS (gRFC A29) on every cluster and inbound listener (default off). */
  readonly mtls?: boolean;
  readonly logger: Logger;
  /** A burst of changes within this window makes one version (default 20 ms). */
  readonly debounceMs?: number;
  readonly clock?: Clock;
}

function emptyResources(): Record<ResourceKind, Map<string, XdsResource>> {
  return { listener: new Map(), route: new Map(), cluster: new Map(), endpoint: new Map() };
}

export class XdsView {
  readonly #options: XdsViewOptions;
  readonly #clock: Clock;
  readonly #instances = new Map<string, Map<string, InstanceView>>();
  readonly #defaults = new Map<string, UpstreamPolicy>();
  readonly #routes = new Map<string, RouteSpec>();
  readonly #policies = new Map<string, Policy>();
  /** Per service, the names of its resources beyond the four named after it (subset clusters, inbound listeners). */
  readonly #extra = new Map<string, Array<readonly [ResourceKind, string]>>();
  readonly #dirty = new Set<string>();
  readonly #listeners = new Set<(snapshot: XdsSnapshot) => void>();
  readonly #followers: Follower[] = [];
  #resources = emptyResources();
  #version = 0;
  #snapshot: XdsSnapshot = Object.freeze({ version: 0, resources: emptyResources() });
  #timer: Timer | undefined;
  /** When the last build ran (monotonic ms). */
  #builtAt = -Infinity;
  #closed = false;

  private constructor(options: XdsViewOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  static async start(options: XdsViewOptions): Promise<XdsView> {
    const view = new XdsView(options);
    const { registry, serviceDefaults, logger } = options;
    view.#followers.push(await follow('xds: registry', logger, async (fail) => {
      const { instances, revision } = await registry.listAll();
      view.#replaceInstances(instances);
      return registry.watch({ afterRevision: revision }, { onEvent: (e) => view.#applyInstance(e), onError: fail });
    }));
    view.#followers.push(await follow('xds: service defaults', logger, async (fail) => {
      const { serviceDefaults: all, revision } = await serviceDefaults.list();
      view.#replaceDefaults(all);
      return serviceDefaults.watch({ afterRevision: revision }, {
        onEvent: (e) => {
          if (e.type === 'delete') view.#setDefaults(e.service, undefined);
          else view.#setDefaults(e.service, e.serviceDefaults);
        },
        onError: fail,
      });
    }));
    const { routes, policies } = options;
    if (routes !== undefined) {
      view.#followers.push(await follow('xds: traffic routes', logger, async (fail) => {
        const listed = await routes.list();
        for (const name of [...view.#routes.keys()]) view.#setRoute(name, undefined);
        for (const r of listed.routes) view.#setRoute(r.name, r);
        return routes.watch({ afterRevision: listed.revision }, { onEvent: (e) => view.#setRoute(e.name, e.type === 'put' ? e.route : undefined), onError: fail });
      }));
    }
    if (policies !== undefined) {
      view.#followers.push(await follow('xds: authorization policies', logger, async (fail) => {
        const listed = await policies.list();
        for (const name of [...view.#policies.keys()]) view.#setPolicy(name, undefined);
        for (const p of listed.policies) view.#setPolicy(p.name, p);
        return policies.watch({ afterRevision: listed.revision }, { onEvent: (e) => view.#setPolicy(e.name, e.type === 'put' ? e.policy : undefined), onError: fail });
      }));
    }
    view.#rebuild();
    return view;
  }

  get current(): XdsSnapshot {
    return this.#snapshot;
  }

  /** Called with every new snapshot; returns the unsubscribe. */
  subscribe(listener: (snapshot: XdsSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    for (const f of this.#followers.splice(0)) f.close();
    this.#listeners.clear();
  }

  #replaceInstances(instances: ReadonlyArray<InstanceView & { service: string }>): void {
    for (const service of this.#instances.keys()) this.#dirty.add(service);
    this.#instances.clear();
    for (const instance of instances) this.#table(instance.service).set(instance.id, instance);
    for (const service of this.#instances.keys()) this.#dirty.add(service);
    this.#schedule();
  }

  #applyInstance(event: RegistryEvent): void {
    if (event.type === 'deregistered') {
      const table = this.#instances.get(event.service);
      table?.delete(event.id);
      if (table?.size === 0) this.#instances.delete(event.service);
    } else {
      this.#table(event.service).set(event.id, event.instance);
    }
    this.#dirty.add(event.service);
    this.#schedule();
  }

  #replaceDefaults(all: readonly ServiceDefaults[]): void {
    for (const service of this.#defaults.keys()) this.#dirty.add(service);
    this.#defaults.clear();
    for (const d of all) this.#setDefaults(d.service, d);
  }

  #setDefaults(service: string, defaults: ServiceDefaults | undefined): void {
    if (defaults === undefined) this.#defaults.delete(service);
    else {
      try {
        this.#defaults.set(service, parseUpstreamPolicy(defaults.policy, `service-defaults ${service}`));
      } catch (err) {
        // Validated when written; a value from an older version that no longer validates is skipped, not fatal.
        this.#options.logger.warn({ service, err: messageOf(err) }, 'xds: service defaults do not validate; the built-in defaults apply');
        this.#defaults.delete(service);
      }
    }
    this.#dirty.add(service);
    this.#schedule();
  }

  #setRoute(name: string, stored: StoredRoute | undefined): void {
    for (const p of this.#routes.get(name)?.parentRefs ?? []) this.#dirty.add(p.name);
    let spec: RouteSpec | undefined;
    try {
      spec = stored === undefined ? undefined : parseRoute(stored.spec);
    } catch (err) {
      // Validated when written; one an older or newer version wrote that does not validate here is skipped.
      this.#options.logger.warn({ route: name, err: messageOf(err) }, 'xds: a traffic route does not validate; it is left out');
    }
    if (spec === undefined) this.#routes.delete(name);
    else {
      this.#routes.set(name, spec);
      for (const p of spec.parentRefs) this.#dirty.add(p.name);
    }
    this.#schedule();
  }

  #setPolicy(name: string, policy: Policy | undefined): void {
    const touched = [this.#policies.get(name)?.service, policy?.service];
    if (policy === undefined) this.#policies.delete(name); else this.#policies.set(name, policy);
    for (const service of touched) {
      if (service === MESH_WIDE) for (const known of this.#instances.keys()) this.#dirty.add(known);
      else if (service !== undefined) this.#dirty.add(service);
    }
    this.#schedule();
  }

  #table(service: string): Map<string, InstanceView> {
    let table = this.#instances.get(service);
    if (table === undefined) {
      table = new Map();
      this.#instances.set(service, table);
    }
    return table;
  }

  /**
   * Leading edge, then trailing: a change after a quiet window is built on the next turn of the
   * event loop (one change is pushed without waiting out the window); changes within the window
   * of the last build wait for its end and go out together.
   */
  #schedule(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const window = this.#options.debounceMs ?? 20;
    const since = this.#clock.monotonic() - this.#builtAt;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#builtAt = this.#clock.monotonic();
      this.#rebuild();
    }, since >= window ? 0 : window - since);
  }

  /** One service's resources: the four named after it, a cluster per subset its routes use, an inbound listener per instance. */
  #build(service: string, put: (kind: ResourceKind, name: string, body: ResourceBody | undefined) => void): void {
    const instances = this.#instances.get(service);
    const known = instances !== undefined || this.#defaults.has(service);
    const policy = this.#defaults.get(service) ?? DEFAULT_UPSTREAM_POLICY;
    const routes = known ? [...this.#routes.values()].filter((r) => r.parentRefs.some((p) => p.name === service)) : [];
    const all = [...(instances?.values() ?? [])];
    const scope = this.#options.scope ?? DEFAULT_SCOPE;
    const mtls = this.#options.mtls === true;
    const identity = mtls ? spiffeId(scope.trustDomain, scope.namespace, service) : undefined;
    put('listener', service, known ? listener(service) : undefined);
    put('route', service, known ? routeConfiguration(service, policy, routes) : undefined);
    put('cluster', service, known ? cluster(service, policy, identity) : undefined);
    put('endpoint', service, known ? loadAssignment(service, all) : undefined);
    const extra: Array<readonly [ResourceKind, string]> = [];
    const emit = (kind: ResourceKind, name: string, body: ResourceBody): void => {
      extra.push([kind, name]);
      put(kind, name, body);
    };
    for (const [name, labels] of subsetsOf(service, routes)) {
      emit('cluster', name, cluster(name, policy, identity));
      emit('endpoint', name, loadAssignment(name, all.filter((i) => inSubset(i, labels))));
    }
    if (all.length > 0) {
      const rbac = rbacFilters(service, this.#policies.values(), scope);
      // Every registered instance at an IP, healthy or not, drained or not: a missing listener stops an XdsServer serving.
      for (const i of all) if (isIP(i.address) !== 0) emit('listener', serverListenerName(i.address, i.port), serverListener(service, i.address, i.port, rbac, mtls));
    }
    const kept = new Set(extra.map(([kind, name]) => `${kind} ${name}`));
    for (const [kind, name] of this.#extra.get(service) ?? []) if (!kept.has(`${kind} ${name}`)) put(kind, name, undefined);
    if (extra.length === 0) this.#extra.delete(service); else this.#extra.set(service, extra);
  }

  /** Rebuild the dirty services; publish a new version when any resource changed. */
  #rebuild(): void {
    if (this.#dirty.size === 0 && this.#version > 0) return;
    const next = this.#version + 1;
    const resources = { ...this.#resources };
    let changed = false;
    const put = (kind: ResourceKind, name: string, body: ResourceBody | undefined): void => {
      const previous = resources[kind].get(name);
      const json = body === undefined ? undefined : JSON.stringify(body);
      if (previous?.json === json) return;
      if (resources[kind] === this.#resources[kind]) resources[kind] = new Map(resources[kind]);
      changed = true;
      if (body === undefined || json === undefined) resources[kind].delete(name);
      else resources[kind].set(name, Object.freeze({ name, version: next, body, json, any: encodeAny(body) }));
    };
    for (const service of this.#dirty) this.#build(service, put);
    this.#dirty.clear();
    if (!changed && this.#version > 0) return;
    this.#version = next;
    this.#resources = resources;
    this.#snapshot = Object.freeze({ version: next, resources: Object.freeze({ ...resources }) });
    for (const l of this.#listeners) l(this.#snapshot);
  }
}
