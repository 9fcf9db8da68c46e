/**
 * Composes the agent's state into snapshots (src/proxy/snapshot.ts) and publishes them:
 * after any change (an endpoint event, a policy or service-defaults change, a sync-state
 * change, a renewed certificate) a new snapshot goes out once the current burst of changes
 * is over (one microtask), so a reader never sees half of a burst. Parts that did not change
 * keep their objects, so the data plane's per-service state is left alone.
 */
import type { Logger } from 'pino';
import type { ServiceDefaults } from '../core/service-defaults.js';
import type { UpstreamConfig } from '../proxy/config.js';
import { SnapshotCell, type Snapshot, type SnapshotContent, type TlsView, type UpstreamView } from '../proxy/snapshot.js';
import type { ServicePolicies } from './authorization.js';
import type { EndpointListing } from './endpoints.js';
import type { UpstreamDefaults } from './service-defaults.js';
import type { UpstreamRoutes } from './routes.js';
import { resolveUpstreamPolicy, type ResolvedPolicy } from './upstream-policy.js';

export interface PublisherParts {
  readonly upstreams: readonly UpstreamConfig[];
  readonly listings: ReadonlyMap<string, EndpointListing>;
  readonly defaults: UpstreamDefaults;
  /** The traffic routes of the upstreams (absent: not followed). */
  readonly routes?: UpstreamRoutes;
  readonly policies: ServicePolicies | undefined;
  readonly tls: () => TlsView | undefined;
  readonly logger: Logger;
}

export class SnapshotPublisher {
  readonly cell: SnapshotCell;
  readonly #parts: PublisherParts;
  readonly #views = new Map<string, UpstreamView>();
  readonly #resolved = new Map<string, { readonly defaults: ServiceDefaults | undefined; readonly resolved: ResolvedPolicy }>();
  #scheduled = false;
  #closed = false;

  constructor(parts: PublisherParts) {
    this.#parts = parts;
    this.cell = new SnapshotCell(this.#compose());
  }

  /** A part changed: publish a new snapshot once this burst of changes is over. */
  schedule(): void {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      if (!this.#closed) this.publishNow();
    });
  }

  publishNow(): Snapshot {
    return this.cell.publish(this.#compose());
  }

  close(): void {
    this.#closed = true;
  }

  #policyOf(upstream: UpstreamConfig): ResolvedPolicy {
    const defaults = this.#parts.defaults.get(upstream.service);
    const cached = this.#resolved.get(upstream.service);
    if (cached !== undefined && cached.defaults === defaults) return cached.resolved;
    const resolved = resolveUpstreamPolicy(upstream, defaults);
    this.#resolved.set(upstream.service, { defaults, resolved });
    const { logger } = this.#parts;
    if (resolved.source.problem !== undefined) logger.warn({ upstream: upstream.service }, resolved.source.problem);
    else if (cached !== undefined || defaults !== undefined) {
      logger.info({ upstream: upstream.service, serviceDefaultsRevision: resolved.source.serviceDefaultsRevision ?? null, overrides: resolved.source.overrides }, 'upstream policy in force');
    }
    return resolved;
  }

  #compose(): SnapshotContent {
    const upstreams = new Map<string, UpstreamView>();
    for (const upstream of this.#parts.upstreams) {
      const listing = this.#parts.listings.get(upstream.service);
      if (listing === undefined) continue;
      const { policy, source } = this.#policyOf(upstream);
      const previous = this.#views.get(upstream.service);
      const routes = this.#parts.routes?.of(upstream.service);
      const same = previous !== undefined && previous.state === listing.sync.value && previous.revision === listing.revision
        && previous.registered === listing.registered && previous.endpoints === listing.endpoints && previous.policy === policy && previous.policySource === source
        && previous.routes === routes && previous.routesState === this.#parts.routes?.sync.value;
      const view: UpstreamView = same ? previous : Object.freeze({
        service: upstream.service,
        state: listing.sync.value,
        revision: listing.revision,
        registered: listing.registered,
        endpoints: listing.endpoints,
        policy,
        policySource: source,
        ...(routes === undefined ? {} : { routes, routesRevision: this.#parts.routes?.revision ?? 0, routesState: this.#parts.routes?.sync.value ?? 'connecting' }),
      });
      this.#views.set(upstream.service, view);
      upstreams.set(upstream.service, view);
    }
    return { upstreams, authorization: this.#parts.policies?.view(), tls: this.#parts.tls() };
  }
}
