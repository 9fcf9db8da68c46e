/**
 * This sidecar's inbound authorization, as the data plane enforces it: the compiled
 * PolicySet of the current snapshot (src/proxy/snapshot.ts; the agent follows the
 * control plane's policy watch and publishes each change, src/agent/authorization.ts).
 * When the control plane is away the last set stays in force (state `stale`); until the
 * first read, decisions wait for it (fail closed: nothing is let in before the policy is known).
 *
 * Every decision is counted; every denial is logged (at most `maxDenialLogsPerSecond`
 * lines a second, the rest counted in the next line's `suppressed`).
 */
import type { Logger } from 'pino';
import { PolicySet } from '../../security/authz/engine.js';
import type { AccessRequest, Action, Decision } from '../../security/authz/types.js';
import type { AuthorizationView, SnapshotSource, SyncState } from '../snapshot.js';

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
  readonly #logger: Logger;
  readonly #maxLogsPerSecond: number;
  #view: AuthorizationView;
  #markSynced: () => void = () => undefined;
  /** Resolves after the first read. */
  readonly synced: Promise<void>;
  #allowed = 0;
  #denied = 0;
  readonly #deniedBy = new Map<string, number>();
  #logWindow = 0;
  #logsInWindow = 0;
  #suppressed = 0;

  constructor(service: string, logger: Logger, options: { maxDenialLogsPerSecond?: number } = {}) {
    this.service = service;
    this.#logger = logger;
    this.#maxLogsPerSecond = options.maxDenialLogsPerSecond ?? 100;
    this.#view = Object.freeze({ state: 'connecting', revision: 0, ready: false, set: new PolicySet(service, []) });
    this.synced = new Promise((resolve) => { this.#markSynced = resolve; });
  }

  get state(): SyncState {
    return this.#view.state;
  }

  get revision(): number {
    return this.#view.revision;
  }

  /** True once the policies were read at least once. */
  get ready(): boolean {
    return this.#view.ready;
  }

  /** Enforce a snapshot's authorization from now on. */
  use(view: AuthorizationView): void {
    const previous = this.#view;
    if (view === previous) return;
    this.#view = view;
    if (view.ready && view.set !== previous.set) {
      this.#logger.info({ revision: view.revision, policies: view.set.policies.map((p) => p.name), default: view.set.defaultAction }, 'authorization policy in force');
    }
    if (view.ready) this.#markSynced();
  }

  /** Follow the snapshots' authorization (this service's); returns the unsubscribe. */
  follow(snapshots: SnapshotSource): () => void {
    const adopt = (view: AuthorizationView | undefined): void => { if (view !== undefined) this.use(view); };
    adopt(snapshots.current().authorization);
    return snapshots.subscribe((next) => adopt(next.authorization));
  }

  /** Decide, count, and log a denial. Call only once `ready` (or after `synced`). */
  decide(request: AccessRequest, context: DenialContext = {}): Decision {
    const decision = this.#view.set.decide(request);
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
    const { set } = this.#view;
    return {
      state: this.#view.state,
      revision: this.#view.revision,
      policies: set.policies.map((p) => p.name),
      default: set.defaultAction,
      allowed: this.#allowed,
      denied: this.#denied,
      deniedBy: Object.fromEntries(this.#deniedBy),
    };
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
