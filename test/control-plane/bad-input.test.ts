/** A table of bad inputs, each answered with its documented code; the server keeps serving. */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, killAll, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';

interface Case {
  name: string;
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
  field?: string;
}

const good = { address: '127.0.0.1', port: 8080 };
const inst = '/v1/services/web/instances/web-1';

const cases: Case[] = [
  { name: 'service name not a DNS label', method: 'PUT', path: '/v1/services/Web_App/instances/x', body: good, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'service' },
  { name: 'service name too long', method: 'PUT', path: `/v1/services/${'a'.repeat(64)}/instances/x`, body: good, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'service' },
  { name: 'instance id with a dot', method: 'PUT', path: '/v1/services/web/instances/a.b', body: good, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'id' },
  { name: 'port 0', method: 'PUT', path: inst, body: { ...good, port: 0 }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'port' },
  { name: 'port 65536', method: 'PUT', path: inst, body: { ...good, port: 65536 }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'port' },
  { name: 'port as a string', method: 'PUT', path: inst, body: { ...good, port: '8080' }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'port' },
  { name: 'port missing', method: 'PUT', path: inst, body: { address: '127.0.0.1' }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'port' },
  { name: 'address not an IP or hostname', method: 'PUT', path: inst, body: { ...good, address: 'not an address!' }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'address' },
  { name: 'address 999.1.1.1 with a bad label', method: 'PUT', path: inst, body: { ...good, address: '-bad-.example' }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'address' },
  { name: 'negative weight', method: 'PUT', path: inst, body: { ...good, weight: -1 }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'weight' },
  { name: 'fractional weight', method: 'PUT', path: inst, body: { ...good, weight: 1.5 }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'weight' },
  { name: 'ttl unreadable', method: 'PUT', path: inst, body: { ...good, ttl: 'soon' }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'ttl' },
  { name: 'ttl too short', method: 'PUT', path: inst, body: { ...good, ttl: '10ms' }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'ttl' },
  { name: 'metadata value not a string', method: 'PUT', path: inst, body: { ...good, metadata: { replicas: 3 } }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'metadata.replicas' },
  { name: 'metadata too many keys', method: 'PUT', path: inst, body: { ...good, metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'metadata' },
  { name: 'metadata value too long', method: 'PUT', path: inst, body: { ...good, metadata: { v: 'x'.repeat(513) } }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'metadata.v' },
  { name: 'unknown field', method: 'PUT', path: inst, body: { ...good, colour: 'blue' }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'colour' },
  { name: 'check of unknown type', method: 'PUT', path: inst, body: { ...good, checks: [{ type: 'grpc' }] }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'checks.0.type' },
  { name: 'http check without a path', method: 'PUT', path: inst, body: { ...good, checks: [{ type: 'http' }] }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'checks.0.path' },
  { name: 'check interval too short', method: 'PUT', path: inst, body: { ...good, checks: [{ type: 'tcp', interval: '1ms' }] }, status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'checks.0.interval' },
  { name: 'body is a JSON array', method: 'PUT', path: inst, body: [1, 2], status: 400, code: 'TRELLIS_ERR_VALIDATION' },
  { name: 'body is not JSON', method: 'PUT', path: inst, body: '{"address": ', status: 400, code: 'TRELLIS_ERR_INVALID_JSON' },
  { name: 'empty JSON body', method: 'PUT', path: inst, body: '', headers: { 'content-type': 'application/json' }, status: 400, code: 'TRELLIS_ERR_INVALID_JSON' },
  { name: 'body not JSON typed', method: 'PUT', path: inst, body: 'address=1', headers: { 'content-type': 'text/plain' }, status: 415, code: 'TRELLIS_ERR_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'oversized body', method: 'PUT', path: inst, body: { ...good, metadata: { big: 'x'.repeat(70_000) } }, status: 413, code: 'TRELLIS_ERR_BODY_TOO_LARGE' },
  { name: 'unknown route', method: 'GET', path: '/v1/nothing-here', status: 404, code: 'TRELLIS_ERR_ROUTE_NOT_FOUND' },
  { name: 'unversioned route', method: 'GET', path: '/services', status: 404, code: 'TRELLIS_ERR_ROUTE_NOT_FOUND' },
  { name: 'heartbeat for an unknown instance', method: 'PUT', path: '/v1/services/web/instances/ghost/heartbeat', status: 404, code: 'TRELLIS_ERR_INSTANCE_NOT_FOUND', field: 'id' },
  { name: 'deregister an unknown instance', method: 'DELETE', path: '/v1/services/web/instances/ghost', status: 404, code: 'TRELLIS_ERR_INSTANCE_NOT_FOUND', field: 'id' },
  { name: 'healthy=maybe', method: 'GET', path: '/v1/services/web/instances?healthy=maybe', status: 400, code: 'TRELLIS_ERR_VALIDATION', field: 'healthy' },
  { name: 'watch from a bad revision', method: 'GET', path: '/v1/watch?after=-3', status: 400, code: 'TRELLIS_ERR_INVALID_REVISION', field: 'after' },
  { name: 'watch from a future revision', method: 'GET', path: '/v1/watch?after=999999999', status: 400, code: 'TRELLIS_ERR_INVALID_REVISION' },
];

describe('bad input', () => {
  const dir = tempDir('bad-input');
  let server: ServerProcess;

  before(async () => {
    server = await startServer(dir.path);
    // An existing registration that no bad request may disturb.
    const { status } = await api(`${server.url}/v1/services/web/instances/keep`, 'PUT', { ...good, metadata: { version: 'v1' } });
    assert.equal(status, 201);
  });
  after(() => { killAll(); dir.remove(); });

  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.code}`, async () => {
      const { status, json } = await api(`${server.url}${c.path}`, c.method, c.body, c.headers);
      assert.equal(status, c.status, JSON.stringify(json));
      assert.equal(json.error.code, c.code);
      assert.ok(json.error.message.length > 10, 'the message explains');
      if (c.field !== undefined) assert.equal(json.error.field, c.field, json.error.message);
    });
  }

  it('stored nothing from any bad request, and still serves', async () => {
    const { status, json } = await api<{ instances: Array<{ id: string; metadata: Record<string, string> }> }>(`${server.url}/v1/services/web/instances`);
    assert.equal(status, 200);
    assert.deepEqual(json.instances.map((i) => i.id), ['keep']);
    assert.equal(json.instances[0]?.metadata['version'], 'v1');
    assert.equal((await api<{ services: Array<{ name: string }> }>(`${server.url}/v1/services`)).json.services.length, 1);
  });

  it('the CLI prints the error and exits non-zero', async () => {
    const bad = await runCli(['register', 'web', '--id', 'x', '--port', '8080', '--address', 'not an address!', '--control-plane', server.url]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /address must be an IPv4 or IPv6 address or a hostname.*TRELLIS_ERR_VALIDATION field=address/);
    const badFlag = await runCli(['register', 'web', '--port', '99999', '--control-plane', server.url]);
    assert.notEqual(badFlag.code, 0);
    assert.match(badFlag.stderr, /--port must be between 1 and 65535/);
    const unreachable = await runCli(['services', '--control-plane', 'http://127.0.0.1:1']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach the control plane at http:\/\/127\.0\.0\.1:1.*TRELLIS_ERR_CONTROL_PLANE_UNREACHABLE/);
    const json = await runCli(['instances', 'Bad_Name', '--json', '--control-plane', server.url]);
    assert.equal(json.code, 1);
    assert.equal((JSON.parse(json.stderr) as { error: { code: string } }).error.code, 'TRELLIS_ERR_VALIDATION');
  });

  it('explains a data dir it cannot use in one line, without a stack trace', async () => {
    const file = join(dir.path, 'a-file');
    writeFileSync(file, 'not a directory');
    const underFile = await runCli(['server', '--data-dir', join(file, 'data'), '--listen', '127.0.0.1:0', '--dns', 'off']);
    assert.equal(underFile.code, 1);
    assert.equal(underFile.stderr.trim().split('\n').length, 1, underFile.stderr);
    assert.match(underFile.stderr, /TRELLIS_ERR_DATA_DIR/);
    assert.doesNotMatch(underFile.stderr, /\n\s+at /);

    const corruptDir = join(dir.path, 'corrupt');
    mkdirSync(corruptDir);
    writeFileSync(join(corruptDir, 'trellis.db'), 'this is not a database '.repeat(200));
    const corrupt = await runCli(['server', '--data-dir', corruptDir, '--listen', '127.0.0.1:0', '--dns', 'off']);
    assert.equal(corrupt.code, 1);
    assert.equal(corrupt.stderr.trim().split('\n').length, 1, corrupt.stderr);
    assert.match(corrupt.stderr, /TRELLIS_ERR_DATA_CORRUPT/);
    assert.doesNotMatch(corrupt.stderr, /\n\s+at /);

    const badListen = await runCli(['server', '--data-dir', join(dir.path, 'fine'), '--listen', '127.0.0.1:99999', '--dns', 'off']);
    assert.equal(badListen.code, 1);
    assert.match(badListen.stderr, /--listen must be HOST:PORT .* the port must be 0–65535/);
  });
});
