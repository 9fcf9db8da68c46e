/**
 * The xDS server's reader of the store: every instance (a full listing, then the registry's
 * watch) and every service's defaults, turned into xDS resources per service. Changes are
 * debounced (a burst of events is one new version), only services that changed are rebuilt,
 * and a resource whose content did not change keeps its version, so a push carries what
 * changed only. Never a second source of truth: a restart re-reads everything.
 */
import type { Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../../core/clock.js';
import type { ServiceDefaults } from '../../core/service-defaults.js';
import { messageOf } from '../../errors.js';
import { DEFAULT_UPSTREAM_POLICY, parseUpstreamPolicy } from '../../proxy/policy.js';
import type { UpstreamPolicy } from '../../proxy/types.js';
import type { Registry } from '../../registry/registry.js';
import type { RegistryEvent } from '../../registry/types.js';
import { follow, type Follower } from '../../util/follow.js';
import type { ServiceDefaultsStore } from '../service-defaults/store.js';
import { encodeAny, type EncodedAny, type ResourceKind } from './protos.js';
import { cluster, listener, loadAssignment, routeConfiguration, type InstanceView, type ResourceBody } from './resources.js';

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

export interface XdsViewOptions {
  readonly registry: Registry;
  readonly serviceDefaults: ServiceDefaultsStore;
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
  readonly #dirty = new Set<string>();
  readonly #listeners = new Set<(snapshot: XdsSnapshot) => void>();
  readonly #followers: Follower[] = [];
  #resources = emptyResources();
  #version = 0;
  #snapshot: XdsSnapshot = Object.freeze({ version: 0, resources: emptyResources() });
  #timer: Timer | undefined;
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

  #table(service: string): Map<string, InstanceView> {
    let table = this.#instances.get(service);
    if (table === undefined) {
      table = new Map();
      this.#instances.set(service, table);
    }
    return table;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#rebuild();
    }, this.#options.debounceMs ?? 20);
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
    for (const service of this.#dirty) {
      const instances = this.#instances.get(service);
      const known = instances !== undefined || this.#defaults.has(service);
      const policy = this.#defaults.get(service) ?? DEFAULT_UPSTREAM_POLICY;
      put('listener', service, known ? listener(service) : undefined);
      put('route', service, known ? routeConfiguration(service, policy) : undefined);
      put('cluster', service, known ? cluster(service, policy) : undefined);
      put('endpoint', service, known ? loadAssignment(service, instances?.values() ?? []) : undefined);
    }
    this.#dirty.clear();
    if (!changed && this.#version > 0) return;
    this.#version = next;
    this.#resources = resources;
    this.#snapshot = Object.freeze({ version: next, resources: Object.freeze({ ...resources }) });
    for (const l of this.#listeners) l(this.#snapshot);
  }
}
