/**
 * The agent's copy of the authorization policies that apply to this sidecar's service (its
 * own and the mesh-wide ones), kept current from the control plane's policy watch and
 * compiled into one PolicySet on every change, for the snapshot. The data plane enforces
 * it (src/proxy/authorization/table.ts).
 */
import type { ControlPlaneClient } from '../client/control-plane.js';
import { DEFAULT_SCOPE, PolicySet } from '../security/authz/engine.js';
import type { PolicyEvent } from '../security/authz/store.js';
import type { MeshScope, Policy } from '../security/authz/types.js';
import type { AuthorizationView } from '../proxy/snapshot.js';
import { FeedState, type Feed } from './follower.js';

export class ServicePolicies {
  readonly service: string;
  readonly sync: FeedState;
  readonly #policies = new Map<string, Policy>();
  #view: AuthorizationView;
  readonly #onChange: () => void;
  /** The trust domain (from the certificate), namespace and federation the policies are read in. */
  #scope: MeshScope;

  constructor(service: string, onChange: () => void = () => undefined, scope: MeshScope = DEFAULT_SCOPE) {
    this.service = service;
    this.#onChange = onChange;
    this.#scope = scope;
    this.#view = Object.freeze({ state: 'connecting', revision: 0, ready: false, set: new PolicySet(service, [], scope) });
    this.sync = new FeedState(() => this.#publish(this.#view.set, this.#view.ready));
  }

  get revision(): number {
    return this.#view.revision;
  }

  /** The compiled policies and their state, frozen (a new object after every change). */
  view(): AuthorizationView {
    return this.#view;
  }

  /** Read the policies in another scope (the sidecar's certificate names its trust domain and federation). */
  setScope(scope: MeshScope): void {
    const now = this.#scope;
    if (now.trustDomain === scope.trustDomain && now.namespace === scope.namespace && now.federatedTrustDomains.join() === scope.federatedTrustDomains.join()) return;
    this.#scope = scope;
    this.#publish(this.#compile(), this.#view.ready);
  }

  #compile(): PolicySet {
    return new PolicySet(this.service, this.#policies.values(), this.#scope);
  }

  /** Replace every policy with a listing read at `revision`. */
  replace(policies: readonly Policy[], revision: number): void {
    this.#policies.clear();
    for (const policy of policies) this.#policies.set(policy.name, policy);
    this.#publish(this.#compile(), true, revision);
  }

  /** Apply one watch event; events at or below the set's revision were seen already. */
  apply(event: PolicyEvent): void {
    if (event.revision <= this.#view.revision) return;
    if (event.type === 'delete') this.#policies.delete(event.name);
    else this.#policies.set(event.name, event.policy);
    this.#publish(this.#compile(), this.#view.ready, event.revision);
  }

  #publish(set: PolicySet, ready: boolean, revision = this.#view.revision): void {
    this.#view = Object.freeze({ state: this.sync.value, revision, ready, set });
    this.#onChange();
  }
}

/** The policies of a service as a Feed for the FeedFollower. */
export function policyFeed(client: ControlPlaneClient, policies: ServicePolicies): Feed {
  return {
    get state() { return policies.sync.value; },
    set state(state) { policies.sync.value = state; },
    async resync() {
      const listing = await client.policies(policies.service);
      policies.replace(listing.policies, listing.revision);
      return listing.revision;
    },
    follow: (revision, signal) => client.watchPolicies({ service: policies.service, after: revision, signal }, (event) => policies.apply(event)),
    describe: () => ({ service: policies.service, revision: policies.revision, policies: policies.view().set.policies.map((p) => p.name) }),
    messages: {
      resynced: 'control plane back: authorization policy resynced',
      lost: 'lost the control plane: enforcing the last known authorization policy until it is back',
    },
  };
}
