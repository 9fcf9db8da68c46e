/**
 * The evaluation engine shared by `policy check` and the sidecars: identities, methods,
 * paths, deny-over-allow precedence, defaults per service and per mesh, TCP.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicySet } from '../../src/security/authz/engine.js';
import { parseSpiffeId, serviceIdentity } from '../../src/security/spiffe.js';
import { normalizePath, underPrefix } from '../../src/security/authz/paths.js';
import { parsePolicy } from '../../src/security/authz/schema.js';
import type { AccessRequest, Policy } from '../../src/security/authz/types.js';
import type { PeerIdentity } from '../../src/core/identity.js';

const A = serviceIdentity('a');
const C = serviceIdentity('c');
const prodA = parseSpiffeId('spiffe://trellis.local/ns/prod/svc/a') as PeerIdentity;

function http(peer: PeerIdentity | undefined, method = 'GET', path = '/', service = 'b'): AccessRequest {
  return { service, peer, protocol: 'http', method, path };
}

function set(...policies: unknown[]): PolicySet {
  return new PolicySet('b', policies.map((p) => parsePolicy(p)));
}

describe('authorization engine', () => {
  it('A may call B, C may not: 403 names the policy that decided it', () => {
    const policies = set({ name: 'b-callers', service: 'b', default: 'deny', rules: [{ name: 'from-a', action: 'allow', from: ['a'] }] });
    const a = policies.decide(http(A));
    assert.equal(a.allowed, true);
    assert.deepEqual(a.by, { kind: 'rule', policy: 'b-callers', rule: 0, ruleName: 'from-a' });
    const c = policies.decide(http(C));
    assert.equal(c.allowed, false);
    assert.deepEqual(c.by, { kind: 'default', scope: 'service', policy: 'b-callers' });
    assert.match(c.explanation, /^denied by the default of policy b-callers \(service b: deny\)/);
    assert.match(c.explanation, /spiffe:\/\/trellis\.local\/ns\/default\/svc\/c calling GET \/ on b/);
    const anonymous = policies.decide(http(undefined));
    assert.equal(anonymous.allowed, false);
    assert.equal(anonymous.caller, 'unauthenticated');
  });

  it('an explicit deny rule names the policy and the rule', () => {
    const policies = set({ name: 'no-c', service: 'b', rules: [{ action: 'deny', from: ['c'] }] });
    const c = policies.decide(http(C));
    assert.equal(c.allowed, false);
    assert.deepEqual(c.by, { kind: 'rule', policy: 'no-c', rule: 0 });
    assert.equal(c.explanation, 'denied by rules.0 of policy no-c: spiffe://trellis.local/ns/default/svc/c calling GET / on b');
    assert.equal(policies.decide(http(A)).allowed, true, 'the built-in default allows the rest');
  });

  it('deny wins over allow, whatever the order of rules and policies', () => {
    const policies = set(
      { name: 'aaa-allow', service: 'b', rules: [{ action: 'allow', from: ['*'] }] },
      { name: 'zzz-deny', service: 'b', rules: [{ action: 'deny', from: ['a'], methods: ['DELETE'] }] },
    );
    assert.equal(policies.decide(http(A, 'GET')).allowed, true);
    const del = policies.decide(http(A, 'DELETE'));
    assert.equal(del.allowed, false);
    assert.equal(del.by.kind === 'rule' && del.by.policy, 'zzz-deny');
  });

  it('sources: *, unauthenticated, service names in the mesh\'s trust domain and namespace only, exact and prefix SPIFFE IDs, no from = everyone', () => {
    const decide = (from: string[] | undefined, peer: PeerIdentity | undefined): boolean =>
      set({ name: 'p', service: 'b', default: 'deny', rules: [{ action: 'allow', ...(from === undefined ? {} : { from }) }] }).decide(http(peer)).allowed;
    assert.equal(decide(['*'], A), true);
    assert.equal(decide(['*'], undefined), false, '* is any authenticated caller');
    assert.equal(decide(['unauthenticated'], undefined), true);
    assert.equal(decide(['unauthenticated'], A), false);
    assert.equal(decide(['a'], A), true);
    assert.equal(decide(['a'], prodA), false, 'a short service name is of the destination\'s namespace only');
    assert.equal(decide(['spiffe://trellis.local/ns/prod/svc/a'], prodA), true, 'another namespace is named by its SPIFFE ID');
    assert.equal(decide(['spiffe://trellis.local/ns/default/svc/a'], A), true);
    assert.equal(decide(['spiffe://trellis.local/ns/default/svc/a'], prodA), false);
    assert.equal(decide(['spiffe://trellis.local/ns/prod/*'], prodA), true);
    assert.equal(decide(['spiffe://trellis.local/ns/prod/*'], A), false);
    assert.equal(decide(['spiffe://other.domain/ns/default/svc/a'], A), false, 'another trust domain is another identity');
    assert.equal(decide(undefined, undefined), true);
    assert.equal(decide(undefined, C), true);
  });

  it('a caller of another trust domain (signed by a trusted root) is denied before any rule, unless federated', () => {
    const evilCaller = parseSpiffeId('spiffe://evil.example/ns/default/svc/caller') as PeerIdentity;
    const caller = serviceIdentity('caller');
    const policies = [
      parsePolicy({ name: 'only-caller', service: 'b', default: 'deny', rules: [{ action: 'allow', from: ['caller'] }] }),
      parsePolicy({ name: 'open', service: 'b', rules: [{ action: 'allow', from: ['*', 'spiffe://evil.example/ns/default/svc/caller'] }] }),
    ];
    const ours = new PolicySet('b', policies);
    assert.equal(ours.decide(http(caller)).allowed, true);
    const refused = ours.decide(http(evilCaller));
    assert.equal(refused.allowed, false, 'not even by `*` or its full SPIFFE ID');
    assert.deepEqual(refused.by, { kind: 'trust-domain', trustDomain: 'evil.example' });
    assert.match(refused.explanation, /^denied: spiffe:\/\/evil\.example\/ns\/default\/svc\/caller is of trust domain evil\.example, not this mesh's \(trellis\.local\) and no trust domain is federated/);
    assert.equal(ours.decide({ service: 'b', peer: evilCaller, protocol: 'tcp' }).allowed, false, 'TCP too');

    const federated = new PolicySet('b', [policies[0]], { trustDomain: 'trellis.local', namespace: 'default', federatedTrustDomains: ['evil.example'] });
    const byDefault = federated.decide(http(evilCaller));
    assert.equal(byDefault.allowed, false, 'federated, but `from: [caller]` still means trellis.local\'s caller only');
    assert.equal(byDefault.by.kind, 'default');
    const named = new PolicySet('b', [parsePolicy({ name: 'partner', service: 'b', default: 'deny', rules: [{ action: 'allow', from: ['spiffe://evil.example/ns/default/svc/caller'] }] })],
      { trustDomain: 'trellis.local', namespace: 'default', federatedTrustDomains: ['evil.example'] });
    assert.equal(named.decide(http(evilCaller)).allowed, true, 'a federated identity is let in by its full SPIFFE ID');
    assert.equal(named.decide(http(caller)).allowed, false);

    const otherMesh = new PolicySet('b', [policies[0]], { trustDomain: 'corp.example', namespace: 'prod', federatedTrustDomains: [] });
    assert.equal(otherMesh.decide(http(parseSpiffeId('spiffe://corp.example/ns/prod/svc/caller'))).allowed, true, 'short names follow the scope');
    assert.equal(otherMesh.decide(http(caller)).allowed, false, 'trellis.local is foreign to corp.example');
  });

  it('methods and path prefixes, matched on the normalised path segment by segment', () => {
    const policies = set({ name: 'reads', service: 'b', default: 'deny', rules: [{ action: 'allow', from: ['a'], methods: ['get', 'HEAD'], paths: ['/api', '/static/'] }] });
    assert.equal(policies.decide(http(A, 'GET', '/api')).allowed, true);
    assert.equal(policies.decide(http(A, 'GET', '/api/v1/orders?x=1')).allowed, true);
    assert.equal(policies.decide(http(A, 'HEAD', '/static/app.js')).allowed, true);
    assert.equal(policies.decide(http(A, 'GET', '/apis')).allowed, false, 'a prefix matches whole segments');
    assert.equal(policies.decide(http(A, 'POST', '/api')).allowed, false);
    assert.equal(policies.decide(http(C, 'GET', '/api')).allowed, false);
  });

  it('a deny on /admin cannot be dodged with encodings, dot segments or doubled slashes', () => {
    const policies = set({ name: 'no-admin', service: 'b', rules: [{ action: 'deny', paths: ['/admin'] }] });
    for (const path of ['/admin', '/%61dmin', '/%61%64%6D%69%6E/x', '//admin', '/x/../admin', '/./admin/', '/api/%2e%2e/admin']) {
      assert.equal(policies.decide(http(A, 'GET', path)).allowed, false, path);
    }
    assert.equal(policies.decide(http(A, 'GET', '/administrator')).allowed, true);
    assert.equal(normalizePath('/a//b/./c/../d?q=/admin'), '/a/b/d');
    assert.equal(normalizePath('/a/%2Fb'), '/a/%2Fb', 'an encoded slash stays encoded');
    assert.equal(underPrefix('/api/', '/api'), true);
    assert.equal(underPrefix('/anything', '/'), true);
  });

  it('defaults: the service’s own, else the mesh’s, else allow; deny wins within a scope', () => {
    const meshDeny = { name: 'mesh-default', service: '*', default: 'deny' };
    assert.deepEqual(set(meshDeny).decide(http(A)).by, { kind: 'default', scope: 'mesh', policy: 'mesh-default' });
    assert.equal(set(meshDeny).decide(http(A)).allowed, false);
    const serviceAllow = { name: 'b-open', service: 'b', default: 'allow' };
    assert.equal(set(meshDeny, serviceAllow).decide(http(A)).allowed, true, "the service's default overrides the mesh's");
    const serviceDeny = { name: 'b-closed', service: 'b', default: 'deny' };
    const both = set(serviceAllow, serviceDeny).decide(http(A));
    assert.equal(both.allowed, false);
    assert.deepEqual(both.by, { kind: 'default', scope: 'service', policy: 'b-closed' });
    const none = set().decide(http(A));
    assert.equal(none.allowed, true);
    assert.deepEqual(none.by, { kind: 'default', scope: 'built-in' });
    assert.match(none.explanation, /no policy applies/);
  });

  it("policies of other services do not apply; mesh-wide ones do", () => {
    const policies: Policy[] = [
      parsePolicy({ name: 'other', service: 'x', default: 'deny' }),
      parsePolicy({ name: 'everywhere', service: '*', rules: [{ action: 'deny', from: ['c'] }] }),
    ];
    const b = new PolicySet('b', policies);
    assert.deepEqual(b.policies.map((p) => p.name), ['everywhere']);
    assert.equal(b.decide(http(A)).allowed, true);
    assert.equal(b.decide(http(C)).allowed, false);
  });

  it('TCP connections match only rules without methods or paths', () => {
    const policies = set({ name: 'db', service: 'b', default: 'deny', rules: [
      { action: 'allow', from: ['a'], paths: ['/'] },
      { action: 'allow', from: ['c'] },
    ] });
    assert.equal(policies.decide({ service: 'b', peer: A, protocol: 'tcp' }).allowed, false);
    const c = policies.decide({ service: 'b', peer: C, protocol: 'tcp' });
    assert.equal(c.allowed, true);
    assert.match(c.explanation, /a TCP connection to b/);
  });
});
