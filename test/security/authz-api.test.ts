/**
 * Policies through a real control plane process: the HTTP API (put, apply, list, get,
 * delete, check), bad input answered with the field and nothing half-stored, and the CLI
 * verbs (`trellis policy apply|list|check|delete`) with their tables, JSON and exit codes.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminApi as api, api as rawApi, killAll, NO_TOKEN, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminEnv } from '../helpers/tokens.js';

interface PolicyList { policies: Array<{ name: string; service: string; revision: number }>; revision: number }
interface CheckAnswer {
  decision: { allowed: boolean; action: string; caller: string; explanation: string; by: { kind: string; policy?: string; rule?: number; scope?: string } };
  policies: string[];
}
interface ErrorAnswer { error: { code: string; message: string; field?: string } }

const bCallers = { service: 'b', default: 'deny', rules: [{ name: 'from-a', action: 'allow', from: ['a'] }] };

describe('authorization policy: API and CLI', () => {
  const dir = tempDir('authz-api');
  let server: ServerProcess;
  const cli = (...args: string[]) => runCli([...args, '--control-plane', server.url], adminEnv(server.url));
  const names = async (query = ''): Promise<string[]> => (await api<PolicyList>(`${server.url}/v1/policies${query}`)).json.policies.map((p) => p.name);

  before(async () => { server = await startServer(dir.path, ['--dns', 'off']); });
  after(() => { killAll(); dir.remove(); });

  it('policy writes are administrative: no token, 401 and nothing stored; a read-only token reads and checks but writes nothing', async () => {
    const refused = await rawApi(`${server.url}/v1/policies/sneaky`, 'PUT', { service: 'b', default: 'allow' }, NO_TOKEN);
    assert.equal(refused.status, 401);
    assert.equal(refused.json.error.code, 'TRELLIS_ERR_TOKEN_MISSING');
    const wrong = await rawApi(`${server.url}/v1/policies/sneaky`, 'DELETE', undefined, { authorization: 'Bearer not-the-admin-token' });
    assert.equal(wrong.status, 401);
    const read = await api<{ token: string }>(`${server.url}/v1/tokens`, 'POST', { readOnly: true });
    const reader = { authorization: `Bearer ${read.json.token}` };
    const readerWrite = await rawApi(`${server.url}/v1/policies/sneaky`, 'PUT', { service: 'b', default: 'allow' }, reader);
    assert.equal(readerWrite.status, 403);
    assert.equal(readerWrite.json.error.code, 'TRELLIS_ERR_PERMISSION_DENIED');
    assert.equal((await rawApi(`${server.url}/v1/policies/sneaky`, 'GET', undefined, reader)).status, 404);
    assert.equal((await rawApi(`${server.url}/v1/policies`, 'GET', undefined, reader)).status, 200);
    assert.equal((await rawApi(`${server.url}/v1/policies/check`, 'POST', { from: 'a', to: 'b' }, reader)).status, 200);
  });

  it('put creates then replaces; get, list by service, delete', async () => {
    const created = await api<{ policy: { name: string; revision: number } }>(`${server.url}/v1/policies/b-callers`, 'PUT', bCallers);
    assert.equal(created.status, 201);
    assert.equal(created.json.policy.name, 'b-callers');
    const replaced = await api(`${server.url}/v1/policies/b-callers`, 'PUT', { ...bCallers, default: 'allow' });
    assert.equal(replaced.status, 200);
    assert.equal((await api<{ policy: { default: string } }>(`${server.url}/v1/policies/b-callers`)).json.policy.default, 'allow');
    await api(`${server.url}/v1/policies/everywhere`, 'PUT', { service: '*', rules: [{ action: 'deny', from: ['evil'] }] });
    await api(`${server.url}/v1/policies/x-only`, 'PUT', { service: 'x', default: 'deny' });
    assert.deepEqual(await names('?service=b'), ['b-callers', 'everywhere']);
    assert.deepEqual(await names(), ['b-callers', 'everywhere', 'x-only']);
    assert.equal((await api(`${server.url}/v1/policies/x-only`, 'DELETE')).status, 200);
    const gone = await api<ErrorAnswer>(`${server.url}/v1/policies/x-only`, 'DELETE');
    assert.equal(gone.status, 404);
    assert.equal(gone.json.error.code, 'TRELLIS_ERR_POLICY_NOT_FOUND');
    for (const name of ['b-callers', 'everywhere']) await api(`${server.url}/v1/policies/${name}`, 'DELETE');
  });

  const badInput: Array<[string, string, string, unknown, number, string, string | undefined]> = [
    ['an action that is neither allow nor deny', 'PUT', '/v1/policies/p1', { service: 'b', rules: [{ action: 'permit' }] }, 400, 'TRELLIS_ERR_VALIDATION', 'rules.0.action'],
    ['an empty methods list', 'PUT', '/v1/policies/p1', { service: 'b', rules: [{ action: 'allow', methods: [] }] }, 400, 'TRELLIS_ERR_VALIDATION', 'rules.0.methods'],
    ['a path that is not a prefix', 'PUT', '/v1/policies/p1', { service: 'b', rules: [{ action: 'deny', paths: ['admin'] }] }, 400, 'TRELLIS_ERR_VALIDATION', 'rules.0.paths.0'],
    ['a malformed SPIFFE ID', 'PUT', '/v1/policies/p1', { service: 'b', rules: [{ action: 'deny', from: ['spiffe://x/svc'] }] }, 400, 'TRELLIS_ERR_VALIDATION', 'rules.0.from.0'],
    ['an unknown field in a rule', 'PUT', '/v1/policies/p1', { service: 'b', rules: [{ action: 'deny', form: ['c'] }] }, 400, 'TRELLIS_ERR_VALIDATION', 'rules.0.form'],
    ['no rules and no default', 'PUT', '/v1/policies/p1', { service: 'b' }, 400, 'TRELLIS_ERR_VALIDATION', 'rules'],
    ['no service', 'PUT', '/v1/policies/p1', { rules: [{ action: 'deny' }] }, 400, 'TRELLIS_ERR_VALIDATION', 'service'],
    ['a name that is not a DNS label', 'PUT', '/v1/policies/Bad_Name', bCallers, 400, 'TRELLIS_ERR_VALIDATION', 'name'],
    ['a body naming another policy', 'PUT', '/v1/policies/p1', { ...bCallers, name: 'p2' }, 400, 'TRELLIS_ERR_VALIDATION', 'name'],
    ['a body that is not JSON', 'PUT', '/v1/policies/p1', '{"service":', 400, 'TRELLIS_ERR_INVALID_JSON', undefined],
    ['an apply whose second policy is bad', 'PUT', '/v1/policies', { policies: [{ name: 'p1', ...bCallers }, { name: 'p2', service: 'b', rules: [{ action: 'allow', methods: ['G E T'] }] }] }, 400, 'TRELLIS_ERR_VALIDATION', 'policies.1.rules.0.methods.0'],
    ['an apply naming one policy twice', 'PUT', '/v1/policies', { policies: [{ name: 'p1', ...bCallers }, { name: 'p1', ...bCallers }] }, 400, 'TRELLIS_ERR_VALIDATION', 'policies.1.name'],
    ['an apply of nothing', 'PUT', '/v1/policies', { policies: [] }, 400, 'TRELLIS_ERR_VALIDATION', 'policies'],
    ['a check without a destination', 'POST', '/v1/policies/check', { from: 'a' }, 400, 'TRELLIS_ERR_VALIDATION', 'to'],
    ['a check from a malformed SPIFFE ID', 'POST', '/v1/policies/check', { from: 'spiffe://td/x', to: 'b' }, 400, 'TRELLIS_ERR_VALIDATION', 'from'],
    ['a check with a relative path', 'POST', '/v1/policies/check', { to: 'b', path: 'x' }, 400, 'TRELLIS_ERR_VALIDATION', 'path'],
    ['a policy list for a bad service name', 'GET', '/v1/policies?service=B!', undefined, 400, 'TRELLIS_ERR_VALIDATION', 'service'],
    ['a watch from a bad revision', 'GET', '/v1/watch/policies?service=b&after=x', undefined, 400, 'TRELLIS_ERR_INVALID_REVISION', 'after'],
  ];

  for (const [name, method, path, body, status, code, field] of badInput) {
    it(`bad input: ${name} → ${status} ${code}${field === undefined ? '' : ` field=${field}`}, nothing stored`, async () => {
      const answer = await api<ErrorAnswer>(`${server.url}${path}`, method, body);
      assert.equal(answer.status, status);
      assert.equal(answer.json.error.code, code);
      assert.equal(answer.json.error.field, field);
      assert.ok(answer.json.error.message.length > 10);
      assert.deepEqual(await names(), [], 'nothing was stored');
    });
  }

  it('check explains a decision with the same engine the sidecars use', async () => {
    await api(`${server.url}/v1/policies/b-callers`, 'PUT', bCallers);
    const a = await api<CheckAnswer>(`${server.url}/v1/policies/check`, 'POST', { from: 'a', to: 'b', method: 'GET', path: '/x' });
    assert.equal(a.status, 200);
    assert.equal(a.json.decision.allowed, true);
    assert.deepEqual(a.json.decision.by, { kind: 'rule', policy: 'b-callers', rule: 0, ruleName: 'from-a' });
    const c = await api<CheckAnswer>(`${server.url}/v1/policies/check`, 'POST', { from: 'spiffe://trellis.local/ns/default/svc/c', to: 'b' });
    assert.equal(c.json.decision.allowed, false);
    assert.equal(c.json.decision.by.policy, 'b-callers');
    assert.deepEqual(c.json.policies, ['b-callers']);
    await api(`${server.url}/v1/policies/b-callers`, 'DELETE');
  });

  it('CLI: a file of several YAML documents applies them all', async () => {
    const file = join(dir.path, 'docs.yaml');
    writeFileSync(file, 'name: d1\nservice: b\ndefault: deny\n---\nname: d2\nservice: "*"\nrules:\n  - { action: deny, from: [unauthenticated] }\n');
    const applied = await cli('policy', 'apply', '-f', file, '--json');
    assert.equal(applied.code, 0, applied.stderr);
    assert.deepEqual((JSON.parse(applied.stdout) as { policies: Array<{ policy: { name: string }; created: boolean }> }).policies.map((p) => [p.policy.name, p.created]), [['d1', true], ['d2', true]]);
    assert.deepEqual(await names(), ['d1', 'd2']);
    for (const name of ['d1', 'd2']) await cli('policy', 'delete', name);
  });

  it('CLI: apply a file, list, check (explanation and exit codes), delete', async () => {
    const file = join(dir.path, 'policies.yaml');
    writeFileSync(file, [
      'policies:',
      '  - name: b-callers',
      '    service: b',
      '    default: deny',
      '    rules:',
      '      - { name: a-reads, action: allow, from: [a], methods: [GET], paths: [/api] }',
      '  - name: no-plaintext',
      '    service: "*"',
      '    rules:',
      '      - { action: deny, from: [unauthenticated] }',
      '',
    ].join('\n'));
    const applied = await cli('policy', 'apply', '-f', file);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /^POLICY\s+SERVICE\s+RESULT\s+REVISION$/m);
    assert.match(applied.stdout, /^b-callers\s+b\s+created\s+\d+$/m);
    assert.match(applied.stdout, /^no-plaintext\s+\*\s+created\s+\d+$/m);

    const listed = await cli('policy', 'list');
    assert.equal(listed.code, 0);
    assert.match(listed.stdout, /^b-callers\s+b\s+deny\s+a-reads: allow from a GET \/api\s+\d+$/m);
    const json = JSON.parse((await cli('policy', 'list', '--service', 'b', '--json')).stdout) as PolicyList;
    assert.deepEqual(json.policies.map((p) => p.name), ['b-callers', 'no-plaintext']);

    const allowed = await cli('policy', 'check', '--from', 'a', '--to', 'b', '--method', 'GET', '--path', '/api/orders');
    assert.equal(allowed.code, 0);
    assert.match(allowed.stdout, /^ALLOWED\s+spiffe:\/\/trellis\.local\/ns\/default\/svc\/a → b\s+GET \/api\/orders$/m);
    assert.match(allowed.stdout, /^decided by:\s+policy b-callers, rule a-reads \(rules\.0\)$/m);

    const deniedByDefault = await cli('policy', 'check', '--from', 'c', '--to', 'b', '--method', 'GET', '--path', '/x');
    assert.equal(deniedByDefault.code, 3, 'a denial exits 3');
    assert.match(deniedByDefault.stdout, /^DENIED/m);
    assert.match(deniedByDefault.stdout, /^decided by:\s+the service default set by policy b-callers$/m);
    assert.match(deniedByDefault.stdout, /^why:\s+denied by the default of policy b-callers \(service b: deny\): no rule of b-callers, no-plaintext matched/m);

    const anonymous = JSON.parse((await cli('policy', 'check', '--to', 'b', '--json')).stdout) as CheckAnswer;
    assert.equal(anonymous.decision.allowed, false);
    assert.deepEqual(anonymous.decision.by, { kind: 'rule', policy: 'no-plaintext', rule: 0 });
    assert.equal(anonymous.decision.caller, 'unauthenticated');

    const deleted = await cli('policy', 'delete', 'no-plaintext');
    assert.equal(deleted.code, 0);
    assert.deepEqual(await names(), ['b-callers']);
    const missing = await cli('policy', 'delete', 'no-plaintext');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no policy named "no-plaintext".*\[TRELLIS_ERR_POLICY_NOT_FOUND field=name\]/);
    await cli('policy', 'delete', 'b-callers');
  });

  const badFiles: Array<[string, string, RegExp]> = [
    ['a misspelt action', 'name: p\nservice: b\nrules:\n  - action: allow\n    from: [a]\n  - action: alow\n', /:6: rules\.1\.action must be "allow" or "deny" \[TRELLIS_ERR_CONFIG field=rules\.1\.action\]/],
    ['an unknown field', 'name: p\nservice: b\nrules:\n  - action: allow\n    form: [a]\n', /:5: rules\.0\.form: unknown field "form".*accepted in a rule: name, action, from, methods, paths/],
    ['a bad second policy of a list', 'policies:\n  - name: p1\n    service: b\n    default: deny\n  - name: p2\n    service: B\n    default: deny\n', /:6: policies\.1\.service must be the destination service's name \(a DNS label\) or "\*" for every service \(got "B"\)/],
    ['a YAML syntax error', 'name: p\nservice: [b\n', /:\d: YAML syntax error/],
    ['a list that is not a policy', '- a\n- b\n', /:1: a policy file must hold maps/],
    ['a bad policy in a second document', 'name: p1\nservice: b\ndefault: deny\n---\nname: p2\nservice: b\nrules:\n  - { action: allow, methods: [] }\n', /:8: rules\.0\.methods must not be empty/],
    ['one name in two documents', 'name: p1\nservice: b\ndefault: deny\n---\nname: p1\nservice: c\ndefault: deny\n', /:5: name: policy name "p1" appears twice in the file/],
    ['nothing in it', '# just a comment\n', /:1: the policy file is empty/],
  ];

  for (const [name, text, expected] of badFiles) {
    it(`CLI: a policy file with ${name} is refused with its line and field; nothing is applied`, async () => {
      const file = join(dir.path, 'bad.yaml');
      writeFileSync(file, text);
      const result = await cli('policy', 'apply', '-f', file);
      assert.equal(result.code, 1);
      assert.match(result.stderr, expected);
      assert.ok(result.stderr.includes(file), 'the file is named');
      assert.deepEqual(await names(), []);
    });
  }
});
