/**
 * Policies in the store, one key each: `/config/policies/<name>` → the validated policy as
 * JSON. Every write is validated whole before anything is written (an `apply` of several
 * validates all of them first), so bad input never leaves a policy half-stored.
 * A watch for one service carries only the policies that apply to it (its own and the
 * mesh-wide ones); a policy that moves away from the service reaches it as a delete.
 */
import { ErrorCodes, TrellisError } from '../../errors.js';
import { serviceNameSchema } from '../../registry/schema.js';
import type { KeyValue, KvStore, Watcher, WatchEvent } from '../../store/types.js';
import { parseOrThrow } from '../../util/validation.js';
import { parseCheckRequest } from './check.js';
import { PolicySet } from './engine.js';
import { DEFAULT_NAMESPACE, DEFAULT_TRUST_DOMAIN } from '../spiffe.js';
import { parsePolicy, policyNameSchema } from './schema.js';
import { MESH_WIDE, type AccessRequest, type Decision, type MeshScope, type Policy, type StoredPolicy } from './types.js';

export const POLICIES_PREFIX = '/config/policies/';

/** At most this many policies in one apply. */
const MAX_APPLY = 256;

export function policyKey(name: string): string {
  return `${POLICIES_PREFIX}${name}`;
}

/** A change to the policies a watcher follows. */
export type PolicyEvent =
  | { readonly revision: number; readonly type: 'put'; readonly name: string; readonly policy: StoredPolicy }
  | { readonly revision: number; readonly type: 'delete'; readonly name: string };

export interface PolicyWatchListener {
  onEvent(event: PolicyEvent): void;
  onError(error: Error): void;
}

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

function decode(kv: KeyValue): StoredPolicy {
  return Object.freeze({ ...(JSON.parse(kv.value) as Policy), revision: kv.modRevision });
}

/** Each store event's values are parsed once, however many watchers see it. */
const parsedEvents = new WeakMap<WatchEvent, { current: Policy | undefined; previous: Policy | undefined }>();

function parsedEvent(e: WatchEvent): { current: Policy | undefined; previous: Policy | undefined } {
  let parsed = parsedEvents.get(e);
  if (parsed === undefined) {
    parsed = {
      current: e.value === undefined ? undefined : (JSON.parse(e.value) as Policy),
      previous: e.prevValue === undefined ? undefined : (JSON.parse(e.prevValue) as Policy),
    };
    parsedEvents.set(e, parsed);
  }
  return parsed;
}

function policyNotFound(name: string): TrellisError {
  return new TrellisError(ErrorCodes.POLICY_NOT_FOUND, `there is no policy named ${JSON.stringify(name)}: see \`trellis policy list\``, { field: 'name' });
}

export interface PolicyStoreOptions {
  /** The mesh's trust domain: `policy check --from NAME` means NAME's identity in it. */
  readonly trustDomain?: string;
  /** Trust domains federated with the mesh (their callers are not denied outright). */
  readonly federatedTrustDomains?: readonly string[];
}

export class PolicyStore {
  readonly #store: KvStore;
  readonly #trustDomain: string;
  /** `policy check` decides for a destination in the default namespace, as `--from NAME` is taken in it. */
  readonly #scope: MeshScope;

  constructor(store: KvStore, options: PolicyStoreOptions = {}) {
    this.#store = store;
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
    const { revision, prevKv } = await this.#store.put(policyKey(name), JSON.stringify(policy));
    return { policy: Object.freeze({ ...policy, revision }), created: prevKv === undefined };
  }

  /** Validate every policy, then write them all: bad input writes nothing. */
  async apply(body: unknown): Promise<{ policies: Array<{ policy: StoredPolicy; created: boolean }>; revision: number }> {
    const raw = typeof body === 'object' && body !== null && 'policies' in body ? (body).policies : undefined;
    if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_APPLY) {
      throw new TrellisError(ErrorCodes.VALIDATION, `policies must be a list of 1 to ${MAX_APPLY} policies, such as {"policies":[{"name":"backend-callers","service":"backend","rules":[…]}]}`, { field: 'policies' });
    }
    const policies = raw.map((item, index) => parsePolicy(item, `policies.${index}`));
    const seen = new Map<string, number>();
    for (const [index, policy] of policies.entries()) {
      const other = seen.get(policy.name);
      if (other !== undefined) {
        throw new TrellisError(ErrorCodes.VALIDATION, `policy name ${JSON.stringify(policy.name)} appears twice (also policies.${other}): give each policy its own name`, { field: `policies.${index}.name` });
      }
      seen.set(policy.name, index);
    }
    const results = [];
    let revision = 0;
    for (const policy of policies) {
      const written = await this.#store.put(policyKey(policy.name), JSON.stringify(policy));
      revision = written.revision;
      results.push({ policy: Object.freeze({ ...policy, revision: written.revision }), created: written.prevKv === undefined });
    }
    return { policies: results, revision };
  }

  async get(name: string): Promise<StoredPolicy> {
    parseOrThrow(policyNameSchema, name, 'name');
    const { kv } = await this.#store.get(policyKey(name));
    if (kv === undefined) throw policyNotFound(name);
    return decode(kv);
  }

  /** Every policy, or those that apply to `service` (its own and the mesh-wide ones), by name. */
  async list(service?: string): Promise<{ policies: StoredPolicy[]; revision: number }> {
    if (service !== undefined) parseOrThrow(serviceNameSchema, service, 'service');
    const { kvs, revision } = await this.#store.range(POLICIES_PREFIX);
    return { policies: kvs.map(decode).filter((p) => appliesTo(p, service)), revision };
  }

  async delete(name: string): Promise<{ revision: number }> {
    parseOrThrow(policyNameSchema, name, 'name');
    const { deleted, revision } = await this.#store.delete(policyKey(name));
    if (deleted === 0) throw policyNotFound(name);
    return { revision };
  }

  /** Evaluate a hypothetical request against the stored policies, with the same engine the sidecars use. */
  async check(body: unknown): Promise<CheckResult> {
    const request = parseCheckRequest(body, this.#trustDomain);
    const { policies, revision } = await this.list(request.service);
    const set = new PolicySet(request.service, policies, this.#scope);
    return { request, decision: set.decide(request), policies: set.policies.map((p) => p.name), revision };
  }

  /** Changes after `afterRevision` to the policies that apply to `service` (every policy when undefined). */
  watch(options: { afterRevision: number; service?: string }, listener: PolicyWatchListener): Promise<Watcher> {
    const { service } = options;
    if (service !== undefined) parseOrThrow(serviceNameSchema, service, 'service');
    return this.#store.watch(POLICIES_PREFIX, { afterRevision: options.afterRevision }, {
      onEvent: (e) => {
        const name = e.key.slice(POLICIES_PREFIX.length);
        const { current, previous } = parsedEvent(e);
        if (appliesTo(current, service) && current !== undefined) {
          listener.onEvent(Object.freeze({ revision: e.revision, type: 'put', name, policy: Object.freeze({ ...current, revision: e.revision }) }));
        } else if (appliesTo(previous, service)) {
          listener.onEvent(Object.freeze({ revision: e.revision, type: 'delete', name }));
        }
      },
      onError: (err) => listener.onError(err),
    });
  }
}

