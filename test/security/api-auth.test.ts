/**
 * Every API call needs a token (docs/security.md#who-may-call-what): what is open, 401s that
 * say how to pass a token, sidecar tokens scoped to their service (403 for another), read-only
 * tokens that read and never write, sessions, and the dashboard's cookie. Bad input gets a
 * clear answer and the server keeps serving.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, killAll, NO_TOKEN, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { mintNewToken } from '../helpers/tokens.js';

const dir = tempDir('api-auth');
let server: ServerProcess;
before(async () => { server = await startServer(dir.path); });
after(() => { killAll(); dir.remove(); });

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
const instance = { address: '127.0.0.1', port: 9100 };

describe('the API needs a token', () => {
  it('answers 401 TRELLIS_ERR_TOKEN_MISSING on every /v1 call but the status, saying how to pass one', async () => {
    const calls: Array<[string, string, unknown?]> = [
      ['GET', '/v1/services'], ['GET', '/v1/services/web/instances'], ['PUT', '/v1/services/web/instances/w1', instance],
      ['PUT', '/v1/services/web/instances/w1/heartbeat'], ['DELETE', '/v1/services/web/instances/w1'], ['GET', '/v1/watch'],
      ['GET', '/v1/policies'], ['POST', '/v1/policies/check', { to: 'web' }], ['GET', '/v1/watch/policies?service=web'],
      ['GET', '/v1/stat'], ['GET', '/v1/edges'], ['GET', '/v1/check'], ['GET', '/v1/telemetry'], ['PUT', '/v1/telemetry/web/w1', {}],
      ['GET', '/v1/ca'], ['GET', '/v1/ca/bundle'], ['GET', '/v1/tokens'], ['POST', '/v1/sessions', {}], ['GET', '/v1/dashboard/events'],
      ['GET', '/v1/no-such-route'],
    ];
    for (const [method, path, body] of calls) {
      const answer = await api(`${server.url}${path}`, method, body, NO_TOKEN);
      assert.equal(answer.status, 401, `${method} ${path}`);
      assert.equal(answer.json.error.code, 'TRELLIS_ERR_TOKEN_MISSING', `${method} ${path}`);
      assert.match(answer.json.error.message, /Authorization: Bearer <token>.*admin-token.*trellis token create --read-only/);
    }
    assert.equal((await api(`${server.url}/v1/status`, 'GET', undefined, NO_TOKEN)).status, 200);
    assert.equal((await api(`${server.url}/healthz`, 'GET', undefined, NO_TOKEN)).status, 200);
    const metrics = await fetch(`${server.url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /trellis_api_requests_total/);
    assert.equal((await fetch(`${server.url}/dashboard/index.html`)).status, 200, 'the static page is open (it holds no data)');
  });

  it('refuses a malformed header, a tampered or unknown token with 401 TRELLIS_ERR_TOKEN_INVALID, and keeps serving', async () => {
    const join = await mintNewToken(server.url, 'web');
    const tampered = `${join.slice(0, -1)}${join.endsWith('A') ? 'B' : 'A'}`;
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ authorization: 'Basic d2ViOnNlY3JldA==' }, /Authorization header is malformed/],
      [{ authorization: 'Bearer' }, /Authorization header is malformed/],
      [bearer('not-a-token'), /token is malformed/],
      [bearer(tampered), /join token [0-9a-f]{16} is not valid/],
      [bearer(`trellis-read.${'0'.repeat(16)}.${'A'.repeat(43)}`), /read-only token 0{16} is not valid/],
      [bearer('trellis-admin.guess'), /admin token is not valid/],
    ];
    for (const [headers, message] of cases) {
      const answer = await api(`${server.url}/v1/services`, 'GET', undefined, headers);
      assert.equal(answer.status, 401, JSON.stringify(answer.json));
      assert.equal(answer.json.error.code, 'TRELLIS_ERR_TOKEN_INVALID');
      assert.match(answer.json.error.message, message);
      assert.doesNotMatch(answer.json.error.message, new RegExp(join.split('.')[2] ?? 'x'), 'never echoes a secret');
    }
    assert.equal((await api(`${server.url}/v1/services`)).status, 200, 'the server still serves');
    assert.doesNotMatch(server.output(), new RegExp(join.split('.')[2] ?? 'x'), 'no token in the log');
  });
});

describe('a sidecar token is scoped to its service', () => {
  it('registers, heartbeats and deregisters instances of its service, and not of another (403 naming what it allows)', async () => {
    const a = bearer(await mintNewToken(server.url, 'svc-a'));
    assert.equal((await api(`${server.url}/v1/services/svc-b/instances/b1`, 'PUT', { ...instance, ttl: '1m' })).status, 201, 'the admin registers b1');

    assert.equal((await api(`${server.url}/v1/services/svc-a/instances/a1`, 'PUT', { ...instance, ttl: '1m' }, a)).status, 201);
    assert.equal((await api(`${server.url}/v1/services/svc-a/instances/a1/heartbeat`, 'PUT', undefined, a)).status, 200);
    for (const [method, path] of [['PUT', '/v1/services/svc-b/instances/b2'], ['PUT', '/v1/services/svc-b/instances/b1/heartbeat'], ['DELETE', '/v1/services/svc-b/instances/b1']] as const) {
      const refused = await api(`${server.url}${path}`, method, method === 'PUT' && !path.endsWith('heartbeat') ? instance : undefined, a);
      assert.equal(refused.status, 403, `${method} ${path}`);
      assert.equal(refused.json.error.code, 'TRELLIS_ERR_PERMISSION_DENIED');
      assert.match(refused.json.error.message, /join token [0-9a-f]{16} \(service default\/svc-a\) may not change instances of svc-b: it allows .*instances of svc-a/);
    }
    assert.equal((await api(`${server.url}/v1/services/svc-b/instances/b1`)).status, 200, 'b1 is still there');

    // Discovery: it reads the registry and policies.
    assert.equal((await api(`${server.url}/v1/services/svc-b/instances`, 'GET', undefined, a)).status, 200);
    assert.equal((await api(`${server.url}/v1/policies?service=svc-a`, 'GET', undefined, a)).status, 200);
    assert.equal((await api(`${server.url}/v1/ca/bundle`, 'GET', undefined, a)).status, 200);
    // Telemetry for its own service only.
    assert.equal((await api(`${server.url}/v1/telemetry/svc-b/b1`, 'PUT', {}, a)).status, 403);
    assert.equal((await api(`${server.url}/v1/services/svc-a/instances/a1`, 'DELETE', undefined, a)).status, 200);
  });

  it('may not make tokens, change policies, rotate the CA or read metrics', async () => {
    const a = bearer(await mintNewToken(server.url, 'svc-a'));
    const policy = { name: 'p1', service: 'svc-a', default: 'deny' };
    for (const [method, path, body] of [
      ['POST', '/v1/tokens', { service: 'svc-a' }], ['GET', '/v1/tokens', undefined], ['PUT', '/v1/policies/p1', policy],
      ['PUT', '/v1/policies', { policies: [policy] }], ['DELETE', '/v1/policies/p1', undefined], ['POST', '/v1/ca/rotate', {}], ['GET', '/v1/stat', undefined],
    ] as const) {
      const refused = await api(`${server.url}${path}`, method, body, a);
      assert.equal(refused.status, 403, `${method} ${path}: ${JSON.stringify(refused.json)}`);
      assert.equal(refused.json.error.code, 'TRELLIS_ERR_PERMISSION_DENIED');
    }
  });

  it('exchanges a join token for a session of the same scope, and a session for the next', async () => {
    const join = await mintNewToken(server.url, 'svc-a');
    const first = await api<{ token: string; service: string; expiresAt: string }>(`${server.url}/v1/sessions`, 'POST', { lifetime: '1m' }, bearer(join));
    assert.equal(first.status, 201);
    assert.match(first.json.token, /^trellis-session\.[0-9a-f]{16}\./);
    assert.equal(first.json.service, 'svc-a');
    const next = await api<{ token: string }>(`${server.url}/v1/sessions`, 'POST', {}, bearer(first.json.token));
    assert.equal(next.status, 201);
    assert.equal((await api(`${server.url}/v1/services/svc-a/instances/a9`, 'PUT', instance, bearer(next.json.token))).status, 201);
    assert.equal((await api(`${server.url}/v1/services/svc-b/instances/a9`, 'PUT', instance, bearer(next.json.token))).status, 403);
    assert.equal((await api(`${server.url}/v1/sessions`, 'POST', {})).status, 403, 'the admin token opens no sidecar session');
  });
});

describe('read-only tokens', () => {
  it('read everything and write nothing (CLI and API)', async () => {
    const made = await runCli(['token', 'create', '--read-only', '--ttl', '10m', '--json', '--control-plane', server.url]);
    assert.equal(made.code, 0, made.stderr);
    const { token, kind, service } = JSON.parse(made.stdout) as { token: string; kind: string; service: string | null };
    assert.equal(kind, 'read');
    assert.equal(service, null);
    const read = bearer(token);
    for (const path of ['/v1/services', '/v1/policies', '/v1/stat', '/v1/edges', '/v1/check', '/v1/ca', '/v1/telemetry']) {
      assert.equal((await api(`${server.url}${path}`, 'GET', undefined, read)).status, 200, path);
    }
    for (const [method, path, body] of [
      ['PUT', '/v1/services/web/instances/r1', instance], ['POST', '/v1/tokens', { readOnly: true }], ['POST', '/v1/sessions', {}],
      ['PUT', '/v1/telemetry/web/r1', {}], ['POST', '/v1/ca/rotate', {}],
    ] as const) {
      const refused = await api(`${server.url}${path}`, method, body, read);
      assert.equal(refused.status, 403, `${method} ${path}`);
      assert.match(refused.json.error.message, /read-only token [0-9a-f]{16} may not .*: it allows reading/);
    }
    const services = await runCli(['services', '--control-plane', server.url], { TRELLIS_TOKEN: token });
    assert.equal(services.code, 0, services.stderr);
    const register = await runCli(['register', 'web', '--port', '9100', '--control-plane', server.url], { TRELLIS_TOKEN: token });
    assert.notEqual(register.code, 0);
    assert.match(register.stderr, /TRELLIS_ERR_PERMISSION_DENIED|may not change instances of web/);
  });
});

describe('the dashboard session', () => {
  it('trades a read-only token for an HttpOnly SameSite=Strict cookie that works on GETs only', async () => {
    const token = JSON.parse((await runCli(['token', 'create', '--read-only', '--json', '--control-plane', server.url])).stdout) as { token: string };
    const traded = await fetch(`${server.url}/v1/dashboard/session`, { method: 'POST', headers: bearer(token.token) });
    assert.equal(traded.status, 200);
    const setCookie = traded.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /^trellis_dashboard=trellis-read\.[^;]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    const cookie = setCookie.split(';')[0] ?? '';
    assert.equal((await fetch(`${server.url}/v1/dashboard/session`, { headers: { cookie } })).status, 200);
    const events = await fetch(`${server.url}/v1/dashboard/events`, { headers: { cookie } });
    assert.equal(events.status, 200);
    assert.match(events.headers.get('content-type') ?? '', /text\/event-stream/);
    await events.body?.cancel();
    const post = await fetch(`${server.url}/v1/policies/check`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{"to":"web"}' });
    assert.equal(post.status, 401, 'the cookie is not a credential for writes or POSTs');
    const withJoin = await fetch(`${server.url}/v1/dashboard/session`, { method: 'POST', headers: bearer(await mintNewToken(server.url, 'web')) });
    assert.equal(withJoin.status, 403, 'a join token is no dashboard token');
    const withAdmin = await api(`${server.url}/v1/dashboard/session`, 'POST');
    assert.equal(withAdmin.status, 403, 'the admin token never goes into a browser cookie');
  });
});
