/**
 * This sidecar's authorization policies: the ones that apply to its own service (its own
 * and the mesh-wide ones), kept current from the control plane's policy watch, compiled
 * into one PolicySet (src/security/authz/engine.ts) on every change. When the control
 * plane is away the last set is kept (state `stale`); until the first read, decisions
 * wait for it (fail closed: nothing is let in before the policy is known).
 *
 * Every decision is counted; every denial is logged (at most `maxDenialLogsPerSecond`
 * lines a second, the rest counted in the next line's `suppressed`).
 */
import type { Logger } from 'pino';
import type { ControlPlaneClient } from '../../client/control-plane.js';
import { DEFAULT_SCOPE, PolicySet } from '../../security/authz/engine.js';
import type { PolicyEvent } from '../../security/authz/store.js';
import type { AccessRequest, Action, Decision, MeshScope, Policy } from '../../security/authz/types.js';
import type { SyncState } from '../discovery/cluster.js';
import type { Feed } from '../discovery/follower.js';

export interface AuthorizationStatus {
  readonly state: SyncState;
  /** The store revision the policies reflect. */
  readonly revision: number;
  /** Policies in force, in evaluation order. */
  readonly policies: readonly string[];
  /** What a request no rule matches gets. */
  readonly default: Action;
  readonly allowed: number;
  readonly denied: number;
  /** Denials by policy name (`default` for the built-in default). */
  readonly deniedBy: Readonly<Record<string, number>>;
}

/** Details of a denied request or connection, for the log line. */
export interface DenialContext {
  readonly requestId?: string;
  readonly remoteAddress?: string;
}

export class AuthorizationTable {
  readonly service: string;
  state: SyncState = 'connecting';
  readonly #logger: Logger;
  readonly #maxLogsPerSecond: number;
  #revision = 0;
  readonly #policies = new Map<string, Policy>();
  #set: PolicySet;
  /** The trust domain (from the certificate), namespace and federation the policies are read in. */
  #scope: MeshScope;
  #markSynced: () => void = () => undefined;
  #ready = false;
  /** Resolves after the first read. */
  readonly synced: Promise<void>;
  #allowed = 0;
  #denied = 0;
  readonly #deniedBy = new Map<string, number>();
  #logWindow = 0;
  #logsInWindow = 0;
  #suppressed = 0;

  constructor(service: string, logger: Logger, options: { maxDenialLogsPerSecond?: number; scope?: MeshScope } = {}) {
    this.service = service;
    this.#logger = logger;
    this.#maxLogsPerSecond = options.maxDenialLogsPerSecond ?? 100;
    this.#scope = options.scope ?? DEFAULT_SCOPE;
    this.#set = new PolicySet(service, [], this.#scope);
    this.synced = new Promise((resolve) => { this.#markSynced = resolve; });
  }

  get revision(): number {
    return this.#revision;
  }

  /** True once the policies were read at least once. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Replace every policy with a listing read at `revision`. */
  replace(policies: readonly Policy[], revision: number): void {
    this.#policies.clear();
    for (const policy of policies) this.#policies.set(policy.name, policy);
    this.#revision = revision;
    this.#rebuild();
    this.#ready = true;
    this.#markSynced();
  }

  /** Apply one watch event; events at or below the set's revision were seen already. */
  apply(event: PolicyEvent): void {
    if (event.revision <= this.#revision) return;
    this.#revision = event.revision;
    if (event.type === 'delete') this.#policies.delete(event.name);
    else this.#policies.set(event.name, event.policy);
    this.#rebuild();
  }

  /** Read the policies in another scope (the sidecar's certificate names its trust domain and federation). */
  setScope(scope: MeshScope): void {
    const now = this.#scope;
    if (now.trustDomain === scope.trustDomain && now.namespace === scope.namespace && now.federatedTrustDomains.join() === scope.federatedTrustDomains.join()) return;
    this.#scope = scope;
    this.#rebuild();
  }

  /** Decide, count, and log a denial. Call only once `ready` (or after `synced`). */
  decide(request: AccessRequest, context: DenialContext = {}): Decision {
    const decision = this.#set.decide(request);
    if (decision.allowed) {
      this.#allowed += 1;
      return decision;
    }
    this.#denied += 1;
    const by = decision.by;
    const key = by.kind === 'rule' ? by.policy : by.kind === 'default' ? by.policy ?? 'default' : 'trust-domain';
    this.#deniedBy.set(key, (this.#deniedBy.get(key) ?? 0) + 1);
    this.#logDenial(decision, request, context);
    return decision;
  }

  status(): AuthorizationStatus {
    return {
      state: this.state,
      revision: this.#revision,
      policies: this.#set.policies.map((p) => p.name),
      default: this.#set.defaultAction,
      allowed: this.#allowed,
      denied: this.#denied,
      deniedBy: Object.fromEntries(this.#deniedBy),
    };
  }

  #rebuild(): void {
    this.#set = new PolicySet(this.service, this.#policies.values(), this.#scope);
    this.#logger.info({ revision: this.#revision, policies: this.#set.policies.map((p) => p.name), default: this.#set.defaultAction }, 'authorization policy in force');
  }

  #logDenial(decision: Decision, request: AccessRequest, context: DenialContext): void {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.#logWindow) {
      this.#logWindow = second;
      this.#logsInWindow = 0;
    }
    if (this.#logsInWindow >= this.#maxLogsPerSecond) {
      this.#suppressed += 1;
      return;
    }
    this.#logsInWindow += 1;
    const by = decision.by;
    this.#logger.info({
      caller: decision.caller,
      protocol: request.protocol,
      ...(request.method === undefined ? {} : { method: request.method }),
      ...(request.path === undefined ? {} : { path: request.path.slice(0, 256) }),
      ...(by.kind === 'rule' ? { policy: by.policy, rule: by.rule, ...(by.ruleName === undefined ? {} : { ruleName: by.ruleName }) }
        : by.kind === 'default' ? { default: by.scope, ...(by.policy === undefined ? {} : { policy: by.policy }) } : { trustDomain: by.trustDomain }),
      ...(context.requestId === undefined ? {} : { requestId: context.requestId }),
      ...(context.remoteAddress === undefined ? {} : { remoteAddress: context.remoteAddress }),
      denied: this.#denied,
      ...(this.#suppressed === 0 ? {} : { suppressed: this.#suppressed }),
    }, `authorization denied: ${decision.explanation}`);
    this.#suppressed = 0;
  }
}

/** The policies of the table's service as a Feed for the FeedFollower. */
export function policyFeed(client: ControlPlaneClient, table: AuthorizationTable): Feed {
  return {
    get state() { return table.state; },
    set state(state: SyncState) { table.state = state; },
    async resync() {
      const listing = await client.policies(table.service);
      table.replace(listing.policies, listing.revision);
      return listing.revision;
    },
    follow: (revision, signal) => client.watchPolicies({ service: table.service, after: revision, signal }, (event) => table.apply(event)),
    describe: () => ({ service: table.service, revision: table.revision, policies: table.status().policies }),
    messages: {
      resynced: 'control plane back: authorization policy resynced',
      lost: 'lost the control plane: enforcing the last known authorization policy until it is back',
    },
  };
}
