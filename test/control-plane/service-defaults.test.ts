/**
 * Service defaults through a real control plane process: the HTTP API (put, apply, list,
 * get, delete, watch), bad input refused with the field named and nothing stored, writes
 * for the admin token only, and the CLI verbs (`trellis service-defaults apply|list|get|delete`)
 * with their tables, JSON, file lines and exit codes.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminApi as api, api as rawApi, killAll, runCli, startServer, tempDir, type ApiErrorBody, type ServerProcess } from '../helpers/processes.js';
import { adminClient, adminEnv } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import type { ServiceDefaultsEvent } from '../../src/core/service-defaults.js';

interface Entry { service: string; policy: Record<string, unknown>; revision: number }
interface One { serviceDefaults: Entry; revision: number }
interface List { serviceDefaults: Entry[]; revision: number }

describe('service defaults: API and CLI', () => {
  const dir = tempDir('service-defaults');
  let server: ServerProcess;
  const cli = (...args: string[]) => runCli([...args, '--control-plane', server.url], adminEnv(server.url));
  const url = (path: string): string => `${server.url}/v1/service-defaults${path}`;

  before(async () => { server = await startServer(dir.path, ['--dns', 'off']); });
  after(() => { killAll(); dir.remove(); });

  it('put creates then replaces; get, list (all or some services), delete', async () => {
    const created = await api<One>(url('/orders'), 'PUT', { timeout: '2s', retry: { maxAttempts: 2 } });
    assert.equal(created.status, 201);
    assert.deepEqual(created.json.serviceDefaults.policy, { timeout: '2s', retry: { maxAttempts: 2 } }, 'stored as written');
    const replaced = await api<One>(url('/orders'), 'PUT', { service: 'orders', perTryTimeout: 500 });
    assert.equal(replaced.status, 200);
    assert.ok(replaced.json.revision > created.json.revision);
    const read = await api<One>(url('/orders'));
    assert.deepEqual(read.json.serviceDefaults, { service: 'orders', policy: { perTryTimeout: 500 }, revision: replaced.json.revision });

    await api<One>(url('/ledger'), 'PUT', { loadBalancer: 'least-request' });
    assert.deepEqual((await api<List>(url(''))).json.serviceDefaults.map((d) => d.service), ['ledger', 'orders']);
    assert.deepEqual((await api<List>(url('?service=ledger'))).json.serviceDefaults.map((d) => d.service), ['ledger']);
    assert.deepEqual((await api<List>(url('?service=ledger,orders'))).json.serviceDefaults.length, 2);

    const deleted = await api<{ revision: number }>(url('/ledger'), 'DELETE');
    assert.equal(deleted.status, 200);
    const gone = await api(url('/ledger'));
    assert.equal(gone.status, 404);
    assert.equal(gone.json.error.code, 'TRELLIS_ERR_SERVICE_DEFAULTS_NOT_FOUND');
    assert.equal((await api(url('/ledger'), 'DELETE')).status, 404);
  });

  it('bad input is refused with the field named, and stores nothing', async () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ retry: { maxAttempts: 50 } }, 'retry.maxAttempts', /between 1 and 10/],
      [{ tmeout: '1s' }, 'tmeout', /unknown field "tmeout"/],
      [{ timeout: '10s', perTryTimeout: '20s' }, 'perTryTimeout', /longer than timeout/],
      [{ timeout: 'soon' }, 'timeout', /duration/],
      [{ loadBalancer: 'fastest' }, 'loadBalancer.strategy', /fastest/],
      [{ loadBalancer: 'ring-hash' }, 'hashHeader', /hashHeader/],
      [{ outlierDetection: { baseEjection: '10m', maxEjection: '1m' } }, 'outlierDetection.maxEjection', /at least baseEjection/],
      [{ service: 'billing', timeout: '1s' }, 'service', /URL names "payments"/],
      [[1, 2], '', /must be a map/],
    ];
    for (const [body, field, message] of cases) {
      const answer = await api(url('/payments'), 'PUT', body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.json.error.code, 'TRELLIS_ERR_VALIDATION');
      assert.equal(answer.json.error.field ?? '', field, JSON.stringify(body));
      assert.match(answer.json.error.message, message);
    }
    const badName = await api(url('/Not_A_Name'), 'PUT', { timeout: '1s' });
    assert.equal(badName.json.error.field, 'service');

    // Apply several: the second is wrong, so neither is written.
    const applied = await api(url(''), 'PUT', { serviceDefaults: [{ service: 'payments', timeout: '1s' }, { service: 'search', retry: { maxAttempts: 0 } }] });
    assert.equal(applied.status, 400);
    assert.equal(applied.json.error.field, 'serviceDefaults.1.retry.maxAttempts');
    const twice = await api(url(''), 'PUT', { serviceDefaults: [{ service: 'payments', timeout: '1s' }, { service: 'payments', timeout: '2s' }] });
    assert.equal(twice.json.error.field, 'serviceDefaults.1.service');
    assert.equal((await api(url('/payments'))).status, 404, 'nothing was stored');
    assert.equal((await api(url('/search'))).status, 404);
  });

  it('writes need the admin token; a read-only token reads', async () => {
    const read = await api<{ token: string }>(`${server.url}/v1/tokens`, 'POST', { readOnly: true });
    const reader = { authorization: `Bearer ${read.json.token}` };
    const write = await rawApi<ApiErrorBody>(url('/orders'), 'PUT', { timeout: '1s' }, reader);
    assert.equal(write.status, 403);
    assert.equal(write.json.error.code, 'TRELLIS_ERR_PERMISSION_DENIED');
    assert.equal((await rawApi(url('/orders'), 'DELETE', undefined, reader)).status, 403);
    assert.equal((await rawApi(url('/orders'), 'GET', undefined, reader)).status, 200);
  });

  it('the watch streams changes to the services asked for only, with the client', async () => {
    const client = adminClient(server.url);
    const start = await client.serviceDefaults(['watched']);
    const events: ServiceDefaultsEvent[] = [];
    const abort = new AbortController();
    const watching = client.watchServiceDefaults({ services: ['watched'], after: start.revision, signal: abort.signal }, (e) => events.push(e));
    await client.putServiceDefaults('other', { timeout: '1s' });
    await client.putServiceDefaults('watched', { timeout: '3s' });
    await client.deleteServiceDefaults('watched');
    await waitFor('two events of the watched service', () => events.length >= 2);
    abort.abort();
    await watching;
    assert.deepEqual(events.map((e) => [e.type, e.service]), [['put', 'watched'], ['delete', 'watched']]);
    const put = events[0];
    assert.ok(put?.type === 'put');
    assert.deepEqual(put.serviceDefaults.policy, { timeout: '3s' });
  });

  it('trellis service-defaults apply -f, list, get --json, delete; a bad file names the line and the field', async () => {
    const file = join(dir.path, 'defaults.yaml');
    writeFileSync(file, [
      'service: catalog', 'timeout: 2s', 'perTryTimeout: 500ms', 'retry: { maxAttempts: 3, retryOnStatus: [502, 503] }',
      '---', 'service: reviews', 'loadBalancer: peak-ewma', '',
    ].join('\n'));
    const applied = await cli('service-defaults', 'apply', '-f', file);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /catalog\s+created/);
    assert.match(applied.stdout, /reviews\s+created/);

    const listed = await cli('service-defaults', 'list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /catalog\s+timeout=2s perTryTimeout=500ms retry=\{"maxAttempts":3,"retryOnStatus":\[502,503\]\}/);

    const got = await cli('service-defaults', 'get', 'catalog', '--json');
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual((JSON.parse(got.stdout) as One).serviceDefaults.policy, { timeout: '2s', perTryTimeout: '500ms', retry: { maxAttempts: 3, retryOnStatus: [502, 503] } });

    const bad = join(dir.path, 'bad.yaml');
    writeFileSync(bad, ['service: catalog', 'timeout: 2s', 'retry:', '  maxAttempts: 11', ''].join('\n'));
    const refused = await cli('service-defaults', 'apply', '-f', bad);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /bad\.yaml:4: .*maxAttempts must be a whole number between 1 and 10/);
    assert.match(refused.stderr, /field=retry\.maxAttempts/);
    assert.equal((await api<One>(url('/catalog'))).json.serviceDefaults.policy['timeout'], '2s', 'the stored entry is unchanged');

    const deleted = await cli('service-defaults', 'delete', 'reviews');
    assert.equal(deleted.code, 0, deleted.stderr);
    const missing = await cli('service-defaults', 'get', 'reviews');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /TRELLIS_ERR_SERVICE_DEFAULTS_NOT_FOUND/);
  });
});
