/**
 * Policies in the store, one key each: `/config/policies/<name>` → the validated policy as
 * JSON. Every write is validated whole before anything is written (an `apply` of several
 * validates all of them first), so bad input never leaves a policy half-stored.
 * A watch for one service carries only the policies that apply to it (its own and the
 * mesh-wide ones); a policy that moves away from the service reaches it as a delete.
 */
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { ConfigEvent } from '../../core/config-kind.js';
import { ConfigKindStore, type ConfigKind, type ConfigWatchListener } from '../../store/config-kind.js';
import { serviceNameSchema } from '../../registry/schema.js';
import type { KvStore, Watcher } from '../../store/types.js';
import { parseOrThrow } from '../../util/validation.js';
import { parseCheckRequest } from './check.js';
import { PolicySet } from './engine.js';
import { DEFAULT_NAMESPACE, DEFAULT_TRUST_DOMAIN } from '../spiffe.js';
import { parsePolicy, policyNameSchema } from './schema.js';
import { MESH_WIDE, POLICY_FIELDS, type AccessRequest, type Decision, type MeshScope, type Policy, type StoredPolicy } from './types.js';

export const POLICIES_PREFIX = '/config/policies/';

export function policyKey(name: string): string {
  return `${POLICIES_PREFIX}${name}`;
}

/** A change to the policies a watcher follows. */
export type PolicyEvent = ConfigEvent<'name', 'policy', StoredPolicy>;

export type PolicyWatchListener = ConfigWatchListener<PolicyEvent>;

export interface CheckResult {
  readonly request: AccessRequest;
  readonly decision: Decision;
  /** The policies that applied, in evaluation order. */
  readonly policies: readonly string[];
  readonly revision: number;
}

function appliesTo(policy: Policy | undefined, service: string | undefined): boolean {
  return policy !== undefined && (service === undefined || policy.service === service || policy.service === MESH_WIDE);
}

/** Authorization policies as a config kind. */
export const POLICY_KIND: ConfigKind<Policy, StoredPolicy, 'name', 'policy'> = Object.freeze({
  noun: 'policy',
  prefix: POLICIES_PREFIX,
  fields: POLICY_FIELDS,
  listField: 'policies',
  example: '{"name":"backend-callers","service":"backend","rules":[…]}',
  maxApply: 256,
  transaction: false,
  parse: (raw: unknown, field: string) => parsePolicy(raw, field),
  nameOf: (policy: Policy) => policy.name,
  checkName: (name: string) => { parseOrThrow(policyNameSchema, name, 'name'); },
  notFound: (name: string) => new TrellisError(ErrorCodes.POLICY_NOT_FOUND, `there is no policy named ${JSON.stringify(name)}: see \`trellis policy list\``, { field: 'name' }),
  encode: (policy: Policy) => JSON.stringify(policy),
  decode: (_name: string, value: string, revision: number): StoredPolicy => Object.freeze({ ...(JSON.parse(value) as Policy), revision }),
});

export interface PolicyStoreOptions {
  /** The mesh's trust domain: `policy check --from NAME` means NAME's identity in it. */
  readonly trustDomain?: string;
  /** Trust domains federated with the mesh (their callers are not denied outright). */
  readonly federatedTrustDomains?: readonly string[];
}

export class PolicyStore {
  readonly #items: ConfigKindStore<Policy, StoredPolicy, 'name', 'policy'>;
  readonly #trustDomain: string;
  /** `policy check` decides for a destination in the default namespace, as `--from NAME` is taken in it. */
  readonly #scope: MeshScope;

  constructor(store: KvStore, options: PolicyStoreOptions = {}) {
    this.#items = new ConfigKindStore(store, POLICY_KIND);
    this.#trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    this.#scope = Object.freeze({ trustDomain: this.#trustDomain, namespace: DEFAULT_NAMESPACE, federatedTrustDomains: Object.freeze([...(options.federatedTrustDomains ?? [])]) });
  }

  /** Create or replace one policy; `name` (from the URL) wins, and a different name in the body is an error. */
  async put(name: string, body: unknown): Promise<{ policy: StoredPolicy; created: boolean }> {
    parseOrThrow(policyNameSchema, name, 'name');
    const withName = typeof body === 'object' && body !== null && !Array.isArray(body) && !('name' in body) ? { ...body, name } : body;
    const policy = parsePolicy(withName);
    if (policy.name !== name) {
      throw new TrellisError(ErrorCodes.VALIDATION, `the body names policy ${JSON.stringify(policy.name)} but the URL names ${JSON.stringify(name)}: make them the same`, { field: 'name' });
    }
    const { stored, created } = await this.#items.putItem(policy, withName);
    return { policy: stored, created };
  }

  /** Validate every policy, then write them all: bad input writes nothing. */
  async apply(body: unknown): Promise<{ policies: Array<{ policy: StoredPolicy; created: boolean }>; revision: number }> {
    const { written, revision } = await this.#items.applyAll(body);
    return { policies: written.map((w) => ({ policy: w.stored, created: w.created })), revision };
  }

  get(name: string): Promise<StoredPolicy> {
    return this.#items.get(name);
  }

  /** Every policy, or those that apply to `service` (its own and the mesh-wide ones), by name. */
  async list(service?: string): Promise<{ policies: StoredPolicy[]; revision: number }> {
    if (service !== undefined) parseOrThrow(serviceNameSchema, service, 'service');
    const { items, revision } = await this.#items.list((p) => appliesTo(p, service));
    return { policies: items, revision };
  }

  delete(name: string): Promise<{ revision: number }> {
    return this.#items.delete(name);
  }

  /** Evaluate a hypothetical request against the stored policies, with the same engine the sidecars use. */
  async check(body: unknown): Promise<CheckResult> {
    const request = parseCheckRequest(body, this.#trustDomain);
    const { policies, revision } = await this.list(request.service);
    const set = new PolicySet(request.service, policies, this.#scope);
    return { request, decision: set.decide(request), policies: set.policies.map((p) => p.name), revision };
  }

  /** Changes after `afterRevision` to the policies that apply to `service` (every policy when undefined); a policy that moves away from it arrives as a delete. */
  watch(options: { afterRevision: number; service?: string }, listener: PolicyWatchListener): Promise<Watcher> {
    const { service } = options;
    if (service !== undefined) parseOrThrow(serviceNameSchema, service, 'service');
    return this.#items.watch(options.afterRevision, { item: (p) => appliesTo(p, service), deletesOfMatchesOnly: true }, listener);
  }
}
