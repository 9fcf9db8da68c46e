/**
 * Where an upstream's policy comes from: built-in defaults < the control plane's service
 * defaults < the sidecar's own upstream entry, field by field (sections merged one level
 * deep); a combination that does not validate falls back to the local entry and says why.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fieldsOf, overlay, resolveUpstreamPolicy } from '../../src/agent/upstream-policy.js';
import { parseSidecarConfig } from '../../src/proxy/config.js';
import { DEFAULT_UPSTREAM_POLICY } from '../../src/proxy/policy.js';

function upstream(entry: Record<string, unknown>) {
  const config = parseSidecarConfig({ service: 'caller', upstreams: [{ service: 'svc', ...entry }] });
  const first = config.upstreams[0];
  if (first === undefined) throw new Error('no upstream');
  return first;
}

const defaults = (policy: Record<string, unknown>, revision = 7) => ({ service: 'svc', policy, revision });

describe('upstream policy resolution', () => {
  it('without service defaults the local entry over the built-in defaults applies, unchanged', () => {
    const u = upstream({ timeout: '3s' });
    const resolved = resolveUpstreamPolicy(u, undefined);
    assert.equal(resolved.policy, u.policy);
    assert.deepEqual(resolved.source, { serviceDefaultsRevision: undefined, overrides: ['timeout'] });
  });

  it('service defaults fill what the local entry leaves out; sections merge field by field', () => {
    const u = upstream({ retry: { maxAttempts: 1 } });
    const resolved = resolveUpstreamPolicy(u, defaults({ timeout: '2s', retry: { maxAttempts: 5, retryOnStatus: [503] }, loadBalancer: 'least-request' }));
    assert.equal(resolved.policy.timeoutMs, 2_000);
    assert.equal(resolved.policy.retry.maxAttempts, 1, 'the local field wins');
    assert.deepEqual(resolved.policy.retry.retryOnStatus, [503], 'the section keeps the defaults’ other fields');
    assert.equal(resolved.policy.retry.backoffBaseMs, DEFAULT_UPSTREAM_POLICY.retry.backoffBaseMs, 'the rest is built-in');
    assert.equal(resolved.policy.loadBalancer.strategy, 'least-request');
    assert.deepEqual(resolved.source, { serviceDefaultsRevision: 7, overrides: ['retry.maxAttempts'] });
    assert.ok(Object.isFrozen(resolved.policy));
  });

  it('a combination that does not validate: the local entry alone, and the problem names the field', () => {
    const u = upstream({ timeout: '1s' });
    const resolved = resolveUpstreamPolicy(u, defaults({ perTryTimeout: '5s' }));
    assert.equal(resolved.policy, u.policy);
    assert.equal(resolved.source.serviceDefaultsRevision, undefined);
    assert.match(resolved.source.problem ?? '', /field perTryTimeout.*only the local entry applies/);
  });

  it('overlay and fieldsOf', () => {
    assert.deepEqual(overlay({ a: 1, retry: { x: 1, y: 2 }, loadBalancer: { strategy: 'p', config: { k: 1 } } }, { retry: { y: 3 }, loadBalancer: 'round-robin' }),
      { a: 1, retry: { x: 1, y: 3 }, loadBalancer: 'round-robin' });
    assert.deepEqual(fieldsOf({ timeout: 1, circuitBreaker: { maxConcurrent: 2 }, hashHeader: 'x' }), ['timeout', 'circuitBreaker.maxConcurrent', 'hashHeader']);
  });
});
