/**
 * The agent's copy of the authorization policies that apply to this sidecar's service (its
 * own and the mesh-wide ones), kept current from the control plane's policy watch and
 * compiled into one PolicySet on every change, for the snapshot. The data plane enforces
 * it (src/proxy/authorization/table.ts).
 */
import type { ControlPlaneClient } from '../client/control-plane.js';
import { DEFAULT_SCOPE, PolicySet } from '../security/authz/engine.js';
import type { PolicyEvent } from '../security/authz/store.js';
import { POLICY_FIELDS, type MeshScope, type Policy } from '../security/authz/types.js';
import type { AuthorizationView } from '../proxy/snapshot.js';
import { ConfigCopy, feedOf } from './config-copy.js';
import type { Feed, FeedState } from './follower.js';

export class ServicePolicies {
  readonly service: string;
  readonly #copy: ConfigCopy<Policy, Policy, 'name', 'policy'>;
  #ready = false;
  #view: AuthorizationView;
  readonly #onChange: () => void;
  /** The trust domain (from the certificate), namespace and federation the policies are read in. */
  #scope: MeshScope;

  constructor(service: string, onChange: () => void = () => undefined, scope: MeshScope = DEFAULT_SCOPE) {
    this.service = service;
    this.#onChange = onChange;
    this.#scope = scope;
    this.#view = Object.freeze({ state: 'connecting', revision: 0, ready: false, set: new PolicySet(service, [], scope) });
    this.#copy = new ConfigCopy(POLICY_FIELDS, { accept: (policy) => policy, onChange: () => this.#publish(this.#compile()) }, () => this.#publish(this.#view.set));
  }

  get sync(): FeedState {
    return this.#copy.sync;
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
    this.#publish(this.#compile());
  }

  #compile(): PolicySet {
    return new PolicySet(this.service, this.#copy.values(), this.#scope);
  }

  /** Replace every policy with a listing read at `revision`. */
  replace(policies: readonly Policy[], revision: number): void {
    this.#ready = true;
    this.#copy.replace(policies, revision);
  }

  /** Apply one watch event; events at or below the set's revision were seen already. */
  apply(event: PolicyEvent): void {
    this.#copy.apply(event);
  }

  #publish(set: PolicySet): void {
    this.#view = Object.freeze({ state: this.#copy.sync.value, revision: this.#copy.revision, ready: this.#ready, set });
    this.#onChange();
  }
}

/** The policies of a service as a Feed for the FeedFollower. */
export function policyFeed(client: ControlPlaneClient, policies: ServicePolicies): Feed {
  return feedOf(policies.sync, {
    read: () => client.policies(policies.service),
    load: (listing, revision) => policies.replace(listing.policies, revision),
    follow: (revision, signal) => client.watchPolicies({ service: policies.service, after: revision, signal }, (event) => policies.apply(event)),
    describe: () => ({ service: policies.service, revision: policies.revision, policies: policies.view().set.policies.map((p) => p.name) }),
    messages: {
      resynced: 'control plane back: authorization policy resynced',
      lost: 'lost the control plane: enforcing the last known authorization policy until it is back',
    },
  });
}
