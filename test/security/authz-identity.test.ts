/**
 * "A may call B, C may not (403 naming the policy)", end to end: sidecars `a` and `c`
 * call `b` through `b`'s sidecar, under one policy that lets only `a` in; `policy check`
 * explains the same decisions from the control plane.
 *
 * The caller's identity reaches `b`'s sidecar as `ProxyRequest.peer`, which mutual TLS
 * sets from the caller's certificate (the SPIFFE ID in its URI SAN).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { adminApi as api, killAll, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, send, sidecar, startApp, tearDown, url, type App } from '../proxy/helpers.js';

const identity = (service: string): string => `spiffe://trellis.local/ns/default/svc/${service}`;

interface Forbidden { error: { code: string; message: string; policy: string; caller: string } }

describe('A may call B, C may not', () => {
  const dir = tempDir('authz-identity');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  let server: ServerProcess;
  let b: Sidecar;
  const callers: Record<string, Sidecar> = {};

  const callB = (from: string) => {
    const caller = callers[from];
    assert.ok(caller !== undefined);
    return send(url(caller.outbound, '/orders'), { headers: { host: 'b' } });
  };

  before(async () => {
    server = await startServer(dir.path, ['--dns', 'off']);
    const app = await startApp('b');
    apps.push(app);
    b = await replica(server.url, 'b', app);
    sidecars.push(b);
    for (const name of ['a', 'c']) {
      const caller = await sidecar({ service: name, controlPlane: server.url, upstreams: [{ service: 'b', retry: { maxAttempts: 1 } }] });
      sidecars.push(caller);
      callers[name] = caller;
      await endpointsReached(caller, 'b', 1);
    }
    const applied = await api(`${server.url}/v1/policies/b-callers`, 'PUT', {
      service: 'b', default: 'deny', rules: [{ name: 'only-a', action: 'allow', from: ['a'] }],
    });
    assert.equal(applied.status, 201);
    await waitFor('b to enforce b-callers', () => b.status().authorization?.policies.includes('b-callers'));
  });

  after(async () => {
    await tearDown(dir, sidecars, apps);
    killAll();
  });

  it('A → B: 200, known by its certificate', async () => {
    const answer = await callB('a');
    assert.equal(answer.status, 200, answer.body);
    assert.equal(answer.body, 'b');
  });

  it('C → B: 403 naming the policy and the caller', async () => {
    const answer = await callB('c');
    assert.equal(answer.status, 403);
    assert.equal(answer.headers['trellis-error'], 'TRELLIS_ERR_FORBIDDEN');
    const { error } = JSON.parse(answer.body) as Forbidden;
    assert.equal(error.policy, 'b-callers');
    assert.equal(error.caller, identity('c'));
    assert.match(error.message, /denied by the default of policy b-callers \(service b: deny\)/);
  });

  it('policy check explains both decisions with the same policy', async () => {
    const a = await runCli(['policy', 'check', '--from', 'a', '--to', 'b', '--path', '/orders', '--control-plane', server.url]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^ALLOWED\s+spiffe:\/\/trellis\.local\/ns\/default\/svc\/a → b\s+GET \/orders$/m);
    assert.match(a.stdout, /^decided by:\s+policy b-callers, rule only-a \(rules\.0\)$/m);
    const c = await runCli(['policy', 'check', '--from', 'spiffe://trellis.local/ns/default/svc/c', '--to', 'b', '--path', '/orders', '--control-plane', server.url]);
    assert.equal(c.code, 3);
    assert.match(c.stdout, /^DENIED\s+spiffe:\/\/trellis\.local\/ns\/default\/svc\/c → b/m);
    assert.match(c.stdout, /^decided by:\s+the service default set by policy b-callers$/m);
  });
});
