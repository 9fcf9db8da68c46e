/**
 * The one evaluation engine: the control plane's `policy check` and every sidecar's
 * inbound authorization layer decide with this module, so they cannot disagree.
 *
 * The policies that apply to a service are its own and the mesh-wide ones (`service: "*"`).
 * A decision, in this order (Istio's and Linkerd's precedence: deny wins over allow):
 *   1. a deny rule that matches      → denied, naming the policy and the rule;
 *   2. an allow rule that matches    → allowed, naming the policy and the rule;
 *   3. no rule matches               → the default: the service's own policies' `default`
 *      (deny if any of them says deny), else the mesh-wide policies' `default` (the same),
 *      else the built-in default, allow.
 * Within a step, the service's policies come before the mesh-wide ones, each by name, and
 * rules in their order — which only decides which matching rule an explanation names.
 *
 * Before any of it, a caller whose trust domain is neither the mesh's nor federated is denied
 * (its certificate chains to a root we trust, but it names another mesh's workload).
 * A rule with methods or paths is about HTTP: it never matches a TCP connection.
 * A set is compiled once per policy change; `decide` does no allocation beyond the answer.
 */
import { DEFAULT_NAMESPACE, DEFAULT_TRUST_DOMAIN, callerName } from '../spiffe.js';
import { normalizePath, underPrefix } from './paths.js';
import { compileSources, type SourceMatcher } from './sources.js';
import { MESH_WIDE, type AccessRequest, type Action, type Decision, type DecisionSource, type MeshScope, type Policy } from './types.js';

/** The scope of a mesh with the defaults: trust domain trellis.local, namespace default, no federation. */
export const DEFAULT_SCOPE: MeshScope = Object.freeze({ trustDomain: DEFAULT_TRUST_DOMAIN, namespace: DEFAULT_NAMESPACE, federatedTrustDomains: Object.freeze([]) });

interface CompiledRule {
  readonly policy: string;
  readonly index: number;
  readonly name: string | undefined;
  readonly from: SourceMatcher;
  readonly methods: ReadonlySet<string> | undefined;
  readonly paths: readonly string[] | undefined;
  /** The decision source naming this rule, made once. */
  readonly by: DecisionSource;
}

interface ScopeDefault {
  readonly action: Action;
  readonly policy: string;
}

function byScopeThenName(service: string) {
  return (a: Policy, b: Policy): number => {
    if (a.service !== b.service) return a.service === service ? -1 : 1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  };
}

function compileRules(policies: readonly Policy[], action: Action, scope: MeshScope): CompiledRule[] {
  const out: CompiledRule[] = [];
  for (const policy of policies) {
    for (const [index, rule] of policy.rules.entries()) {
      if (rule.action !== action) continue;
      out.push({
        policy: policy.name,
        index,
        name: rule.name,
        from: compileSources(rule.from, scope),
        methods: rule.methods === undefined ? undefined : new Set(rule.methods),
        paths: rule.paths,
        by: Object.freeze({ kind: 'rule', policy: policy.name, rule: index, ...(rule.name === undefined ? {} : { ruleName: rule.name }) }),
      });
    }
  }
  return out;
}

/** deny if any policy of the scope says deny, else allow if one says allow; undefined when none sets a default. */
function scopeDefault(policies: readonly Policy[]): ScopeDefault | undefined {
  let found: ScopeDefault | undefined;
  for (const policy of policies) {
    if (policy.default === undefined) continue;
    if (policy.default === 'deny') return { action: 'deny', policy: policy.name };
    found ??= { action: 'allow', policy: policy.name };
  }
  return found;
}

function ruleRef(rule: { readonly index: number; readonly name?: string | undefined }): string {
  return rule.name === undefined ? `rules.${rule.index}` : `rule ${rule.name} (rules.${rule.index})`;
}

function what(request: AccessRequest): string {
  return request.protocol === 'tcp'
    ? `a TCP connection to ${request.service}`
    : `${request.method ?? 'GET'} ${normalizePath(request.path ?? '/')} on ${request.service}`;
}

function matches(rule: CompiledRule, request: AccessRequest, path: string | undefined): boolean {
  if (!rule.from(request.peer)) return false;
  if (rule.methods !== undefined && (request.protocol !== 'http' || !rule.methods.has(request.method ?? 'GET'))) return false;
  if (rule.paths !== undefined) {
    if (path === undefined) return false;
    for (const prefix of rule.paths) if (underPrefix(path, prefix)) return true;
    return false;
  }
  return true;
}

function firstMatch(rules: readonly CompiledRule[], request: AccessRequest, path: string | undefined): CompiledRule | undefined {
  for (const rule of rules) if (matches(rule, request, path)) return rule;
  return undefined;
}

export class PolicySet {
  /** The destination service this set decides for. */
  readonly service: string;
  /** The policies that apply, in evaluation order. */
  readonly policies: readonly Policy[];
  readonly #denies: readonly CompiledRule[];
  readonly #allows: readonly CompiledRule[];
  readonly #default: DecisionSource & { readonly kind: 'default' };
  readonly #defaultAction: Action;
  readonly #needsPath: boolean;
  readonly #scope: MeshScope;
  /** The mesh's trust domain and the federated ones: a caller from any other is denied. */
  readonly #trustDomains: ReadonlySet<string>;

  /** Compile the policies that apply to `service` (others in `policies` are ignored), in `scope`. */
  constructor(service: string, policies: Iterable<Policy>, scope: MeshScope = DEFAULT_SCOPE) {
    this.service = service;
    this.#scope = scope;
    this.#trustDomains = new Set([scope.trustDomain, ...scope.federatedTrustDomains]);
    this.policies = Object.freeze([...policies].filter((p) => p.service === service || p.service === MESH_WIDE).sort(byScopeThenName(service)));
    this.#denies = compileRules(this.policies, 'deny', scope);
    this.#allows = compileRules(this.policies, 'allow', scope);
    this.#needsPath = [...this.#denies, ...this.#allows].some((r) => r.paths !== undefined);
    const own = scopeDefault(this.policies.filter((p) => p.service === service));
    const mesh = scopeDefault(this.policies.filter((p) => p.service === MESH_WIDE));
    const chosen = own ?? mesh;
    this.#defaultAction = chosen?.action ?? 'allow';
    this.#default = chosen === undefined
      ? Object.freeze({ kind: 'default', scope: 'built-in' })
      : Object.freeze({ kind: 'default', scope: own === undefined ? 'mesh' : 'service', policy: chosen.policy });
  }

  /** The default a request no rule matches gets. */
  get defaultAction(): Action {
    return this.#defaultAction;
  }

  decide(request: AccessRequest): Decision {
    const peer = request.peer;
    if (peer !== undefined && !this.#trustDomains.has(peer.trustDomain)) return this.#foreign(peer.trustDomain, request);
    const path = this.#needsPath && request.protocol === 'http' ? normalizePath(request.path ?? '/') : undefined;
    const denied = firstMatch(this.#denies, request, path);
    if (denied !== undefined) return this.#byRule('deny', denied, request);
    const allowed = firstMatch(this.#allows, request, path);
    if (allowed !== undefined) return this.#byRule('allow', allowed, request);
    const action = this.#defaultAction;
    const source = this.#default;
    const caller = callerName(request.peer);
    const service = this.service;
    const names = this.policies;
    return explained(action, source, caller, () => {
      const whose = source.scope === 'built-in'
        ? `the built-in default (${action}: no policy for ${service} sets one)`
        : `the default of policy ${source.policy} (${source.scope === 'mesh' ? 'the whole mesh' : `service ${service}`}: ${action})`;
      const considered = names.length === 0 ? 'no policy applies' : `no rule of ${names.map((p) => p.name).join(', ')} matched`;
      return `${action === 'allow' ? 'allowed' : 'denied'} by ${whose}: ${considered} for ${caller} calling ${what(request)}`;
    });
  }

  #foreign(trustDomain: string, request: AccessRequest): Decision {
    const caller = callerName(request.peer);
    const federated = this.#scope.federatedTrustDomains;
    return explained('deny', Object.freeze({ kind: 'trust-domain', trustDomain }), caller, () =>
      `denied: ${caller} is of trust domain ${trustDomain}, not this mesh's (${this.#scope.trustDomain})${federated.length === 0 ? ' and no trust domain is federated' : ` nor a federated one (${federated.join(', ')})`}, calling ${what(request)} — to accept its workloads, federate it: \`trellis server --federated-trust-domains ${trustDomain}\``);
  }

  #byRule(action: Action, rule: CompiledRule, request: AccessRequest): Decision {
    const caller = callerName(request.peer);
    return explained(action, rule.by, caller, () =>
      `${action === 'allow' ? 'allowed' : 'denied'} by ${ruleRef(rule)} of policy ${rule.policy}: ${caller} calling ${what(request)}`);
  }
}

/** A decision whose sentence is written only when read (allowed requests on the data path never read it). */
class LazyDecision implements Decision {
  readonly allowed: boolean;
  #text: string | undefined;
  readonly #explain: () => string;

  constructor(readonly action: Action, readonly by: DecisionSource, readonly caller: string, explain: () => string) {
    this.allowed = action === 'allow';
    this.#explain = explain;
  }

  get explanation(): string {
    this.#text ??= this.#explain();
    return this.#text;
  }

  toJSON(): Decision {
    return { action: this.action, allowed: this.allowed, by: this.by, caller: this.caller, explanation: this.explanation };
  }
}

function explained(action: Action, by: DecisionSource, caller: string, explain: () => string): Decision {
  return new LazyDecision(action, by, caller, explain);
}
