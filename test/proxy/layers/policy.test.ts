import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { strategies } from '../../../src/balancer/index.js';
import { ErrorCodes, TrellisError } from '../../../src/errors.js';
import { DEFAULT_UPSTREAM_POLICY, parseUpstreamPolicy } from '../../../src/proxy/policy.js';

function failure(raw: unknown, field = 'upstreams.0'): TrellisError {
  try {
    parseUpstreamPolicy(raw, field);
  } catch (err) {
    assert.ok(err instanceof TrellisError);
    assert.equal(err.code, ErrorCodes.VALIDATION);
    return err;
  }
  assert.fail(`accepted ${JSON.stringify(raw)}`);
}

describe('upstream policy', () => {
  it('has the documented defaults, frozen all the way down', () => {
    assert.deepEqual(DEFAULT_UPSTREAM_POLICY, {
      timeoutMs: 15_000,
      perTryTimeoutMs: 5_000,
      retry: { maxAttempts: 3, budgetRatio: 0.2, minRetriesPerSecond: 10, backoffBaseMs: 25, backoffMaxMs: 250, retryOnStatus: [502, 503, 504] },
      circuitBreaker: { maxConcurrent: 1024, maxPending: 1024 },
      outlierDetection: { consecutive5xx: 5, consecutiveConnectFailures: 2, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50, noProgressTimeoutMs: 1_000 },
      loadBalancer: { strategy: 'round-robin', config: {} },
    });
    assert.ok(Object.isFrozen(DEFAULT_UPSTREAM_POLICY));
    assert.ok(Object.isFrozen(DEFAULT_UPSTREAM_POLICY.retry));
    assert.ok(Object.isFrozen(DEFAULT_UPSTREAM_POLICY.retry.retryOnStatus));
    assert.ok(Object.isFrozen(DEFAULT_UPSTREAM_POLICY.outlierDetection));
    assert.deepEqual(parseUpstreamPolicy({}, 'x'), DEFAULT_UPSTREAM_POLICY);
  });

  it('fills in what a partial section leaves out, and reads durations with units', () => {
    const policy = parseUpstreamPolicy({
      timeout: '10s',
      perTryTimeout: 2500,
      retry: { maxAttempts: 5, backoffBase: '50ms', backoffMax: '1s' },
      outlierDetection: { baseEjection: '1m' },
      hashHeader: 'X-User-Id',
    }, 'upstreams.0');
    assert.equal(policy.timeoutMs, 10_000);
    assert.equal(policy.perTryTimeoutMs, 2500);
    assert.deepEqual(policy.retry, { ...DEFAULT_UPSTREAM_POLICY.retry, maxAttempts: 5, backoffBaseMs: 50, backoffMaxMs: 1000 });
    assert.equal(policy.outlierDetection.baseEjectionMs, 60_000);
    assert.equal(policy.outlierDetection.maxEjectionMs, 300_000);
    assert.equal(policy.hashHeader, 'x-user-id', 'request headers are lower-case');
    assert.deepEqual(policy.circuitBreaker, DEFAULT_UPSTREAM_POLICY.circuitBreaker);
  });

  it('takes a load balancer by name or as { strategy, config }, validated by the strategy', () => {
    assert.deepEqual(parseUpstreamPolicy({ loadBalancer: 'least-request' }, 'u').loadBalancer, { strategy: 'least-request', config: { choiceCount: 2 } });
    const policy = parseUpstreamPolicy({ loadBalancer: { strategy: 'peak-ewma', config: { decay: '5s' } } }, 'u');
    assert.equal(policy.loadBalancer.strategy, 'peak-ewma');
    assert.deepEqual(policy.loadBalancer.config, { decay: 5000, choiceCount: 2 });
    // What the policy holds configures the strategy again as is.
    assert.equal(strategies.configure(policy.loadBalancer).strategy, 'peak-ewma');
  });

  const bad: ReadonlyArray<[unknown, string, RegExp]> = [
    [{ retry: { maxAttempts: 0 } }, 'upstreams.0.retry.maxAttempts', /maxAttempts must be a whole number between 1 and 10/],
    [{ retry: { maxAttempts: 2.5 } }, 'upstreams.0.retry.maxAttempts', /whole number/],
    [{ retry: { budgetRatio: 20 } }, 'upstreams.0.retry.budgetRatio', /between 0 and 1 \(0.2 = 20%\)/],
    [{ retry: { retryOnStatus: [503, 200] } }, 'upstreams.0.retry.retryOnStatus.1', /between 400 and 599/],
    [{ retry: { backoffBase: '1s', backoffMax: '100ms' } }, 'upstreams.0.retry.backoffMax', /at least backoffBase/],
    [{ retry: { maxAtempts: 3 } }, 'upstreams.0.retry.maxAtempts', /unknown field "maxAtempts".*accepted here: maxAttempts, /],
    [{ retry: 3 }, 'upstreams.0.retry', /retry must be a map/],
    [{ timeout: 'soon' }, 'upstreams.0.timeout', /timeout must be a duration: a number with a unit and no space — ms, s, m, h or d/],
    [{ timeout: '2h' }, 'upstreams.0.timeout', /between 0 ms and 3600000 ms/],
    [{ timeout: '1s', perTryTimeout: '2s' }, 'upstreams.0.perTryTimeout', /longer than timeout/],
    [{ circuitBreaker: { maxConcurrent: 0 } }, 'upstreams.0.circuitBreaker.maxConcurrent', /between 1 and/],
    [{ outlierDetection: { maxEjectionPercent: 150 } }, 'upstreams.0.outlierDetection.maxEjectionPercent', /between 0 and 100/],
    [{ outlierDetection: { baseEjection: '10m', maxEjection: '1m' } }, 'upstreams.0.outlierDetection.maxEjection', /at least baseEjection/],
    [{ loadBalancer: 'fastest' }, 'upstreams.0.loadBalancer.strategy', /unknown load-balancing strategy "fastest": use one of "round-robin"/],
    [{ loadBalancer: { strategy: 'least-request', config: { choiceCount: 0 } } }, 'upstreams.0.loadBalancer.config.choiceCount', /choiceCount/],
    [{ hashHeader: 'x user' }, 'upstreams.0.hashHeader', /header name/],
    [{ retries: 3 }, 'upstreams.0.retries', /unknown field "retries".*accepted here: timeout, perTryTimeout, retry/],
    ['fast', 'upstreams.0', /an upstream policy must be a map/],
  ];
  for (const [raw, field, message] of bad) {
    it(`rejects ${JSON.stringify(raw)} naming ${field}`, () => {
      const err = failure(raw);
      assert.equal(err.field, field);
      assert.match(err.message, message);
    });
  }
});
