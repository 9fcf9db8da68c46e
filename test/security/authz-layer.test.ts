/**
 * The inbound authorization layer with caller identities (as mTLS sets `request.peer`),
 * and its answers through rescue.ts: 403 with the policy, rule and caller; gRPC
 * PERMISSION_DENIED; POLICY_UNAVAILABLE before the policy was ever read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes } from '../../src/errors.js';
import { ServicePolicies } from '../../src/agent/authorization.js';
import { AuthorizationTable } from '../../src/proxy/authorization/table.js';
import { createAuthorizationLayer } from '../../src/proxy/layers/authorize.js';
import { failureResponse, grpcFailureHeaders, GrpcStatus } from '../../src/proxy/rescue.js';
import type { Handler, Outcome, PeerIdentity, ProxyRequest, Target } from '../../src/proxy/types.js';
import { serviceIdentity } from '../../src/security/spiffe.js';
import { parsePolicy } from '../../src/security/authz/schema.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { DEFAULT_UPSTREAM_POLICY } from '../../src/proxy/policy.js';
import { response } from '../proxy/layers/fixtures.js';

const quiet = createLogger({ level: 'silent' });
const target: Target = { direction: 'inbound', service: 'b', policy: DEFAULT_UPSTREAM_POLICY };

function request(peer: PeerIdentity | undefined, method = 'GET', path = '/'): ProxyRequest {
  return {
    id: 'req-1', method, path, headers: {}, body: { open: () => null, replayable: true }, target,
    signal: new AbortController().signal, startedAt: performance.now(), tried: new Set(), ...(peer === undefined ? {} : { peer }),
  };
}

function harness(waitMs = 5_000) {
  // The agent's copy of the policies publishes each change; the data plane's table enforces it.
  const table = new AuthorizationTable('b', quiet);
  const policies: ServicePolicies = new ServicePolicies('b', () => table.use(policies.view()));
  const reached: ProxyRequest[] = [];
  const app: Handler = async (r) => { reached.push(r); return response(200, undefined); };
  const handler = createAuthorizationLayer((service) => (service === 'b' ? table : undefined), { waitMs })(app);
  return { table, policies, reached, handler };
}

function denied(outcome: Outcome) {
  assert.equal(outcome.ok, false);
  if (outcome.ok) throw new Error('unreachable');
  return outcome.failure;
}

const bCallers = parsePolicy({ name: 'b-callers', service: 'b', default: 'deny', rules: [
  { name: 'a-reads', action: 'allow', from: ['a'], methods: ['GET'] },
  { name: 'no-admin', action: 'deny', paths: ['/admin'] },
] });

describe('inbound authorization layer', () => {
  it('A may call B, C may not: 403, trellis-error FORBIDDEN, the policy, rule and caller in the body', async () => {
    const { table, policies, reached, handler } = harness();
    policies.replace([bCallers], 7);
    const a = await handler(request(serviceIdentity('a')));
    assert.equal(a.ok, true);
    assert.equal(reached.length, 1);

    const failure = denied(await handler(request(serviceIdentity('c'))));
    assert.equal(reached.length, 1, 'a denied request never reaches the app');
    assert.equal(failure.error.code, ErrorCodes.FORBIDDEN);
    const answer = failureResponse(failure, target);
    assert.equal(answer.status, 403);
    assert.equal(answer.headers['trellis-error'], 'TRELLIS_ERR_FORBIDDEN');
    const body = JSON.parse(answer.body) as { error: Record<string, string> };
    assert.equal(body.error['policy'], 'b-callers');
    assert.equal(body.error['default'], 'service');
    assert.equal(body.error['caller'], 'spiffe://trellis.local/ns/default/svc/c');
    assert.match(body.error['message'] ?? '', /denied by the default of policy b-callers/);
    assert.match(body.error['message'] ?? '', /trellis policy check/);

    const admin = failureResponse(denied(await handler(request(serviceIdentity('a'), 'GET', '/admin/users'))), target);
    const adminBody = JSON.parse(admin.body) as { error: Record<string, string> };
    assert.equal(adminBody.error['policy'], 'b-callers');
    assert.equal(adminBody.error['rule'], 'no-admin');

    assert.deepEqual(table.status().deniedBy, { 'b-callers': 2 });
    assert.equal(table.status().allowed, 1);
    assert.equal(table.status().denied, 2);
  });

  it('logs each denial with the caller, policy, rule and request id, at most maxDenialLogsPerSecond a second', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } } });
    const table = new AuthorizationTable('b', logger, { maxDenialLogsPerSecond: 3 });
    const policies: ServicePolicies = new ServicePolicies('b', () => table.use(policies.view()));
    policies.replace([bCallers], 1);
    const handler = createAuthorizationLayer(() => table)(async () => response(200, undefined));
    lines.length = 0;
    for (let i = 0; i < 10; i += 1) await handler(request(serviceIdentity('a'), 'GET', '/admin'));
    const denials = lines.filter((l) => typeof l['msg'] === 'string' && (l['msg']).startsWith('authorization denied: '));
    assert.ok(denials.length >= 3 && denials.length <= 6, `${denials.length} denial lines for 10 denials`);
    const first = denials[0];
    assert.equal(first?.['caller'], 'spiffe://trellis.local/ns/default/svc/a');
    assert.equal(first?.['policy'], 'b-callers');
    assert.equal(first?.['ruleName'], 'no-admin');
    assert.equal(first?.['path'], '/admin');
    assert.equal(first?.['requestId'], 'req-1');
    assert.equal(table.status().denied, 10, 'every denial is counted, logged or not');
  });

  it('a gRPC call that is denied gets PERMISSION_DENIED', async () => {
    const { table, policies, handler } = harness();
    policies.replace([bCallers], 1);
    const failure = denied(await handler(request(serviceIdentity('c'), 'POST', '/echo.Echo/Say')));
    const headers = grpcFailureHeaders(failure, target);
    assert.equal(headers['grpc-status'], String(GrpcStatus.PERMISSION_DENIED));
    assert.equal(headers['trellis-error'], 'TRELLIS_ERR_FORBIDDEN');
    assert.match(decodeURIComponent(headers['grpc-message'] ?? ''), /policy b-callers/);
  });

  it('a change applies to the next request; a deleted policy stops applying', async () => {
    const { table, policies, handler } = harness();
    policies.replace([], 1);
    assert.equal((await handler(request(serviceIdentity('c')))).ok, true);
    policies.apply({ revision: 2, type: 'put', name: 'b-callers', policy: { ...bCallers, revision: 2 } });
    assert.equal((await handler(request(serviceIdentity('c')))).ok, false);
    policies.apply({ revision: 2, type: 'delete', name: 'b-callers' });
    assert.equal((await handler(request(serviceIdentity('c')))).ok, false, 'an event at an old revision is ignored');
    policies.apply({ revision: 3, type: 'delete', name: 'b-callers' });
    assert.equal((await handler(request(serviceIdentity('c')))).ok, true);
  });

  it('before the first read requests wait for it, and fail closed when it does not come', async () => {
    const { table, policies, reached, handler } = harness(200);
    const failure = denied(await handler(request(serviceIdentity('a'))));
    assert.equal(failure.error.code, ErrorCodes.POLICY_UNAVAILABLE);
    assert.equal(failureResponse(failure, target).status, 503);
    const waiting = handler(request(serviceIdentity('a')));
    policies.replace([bCallers], 1);
    assert.equal((await waiting).ok, true);
    assert.equal(reached.length, 1);
  });
});
