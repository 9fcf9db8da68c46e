/** The sidecar config: defaults, errors that name the field (and, from a file, the line). */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfigText } from '../../src/proxy/config-file.js';
import { parseSidecarConfig } from '../../src/proxy/config.js';
import { TrellisError } from '../../src/errors.js';
import { runCli, tempDir } from '../helpers/processes.js';

function fails(input: unknown, field: string, message: RegExp): void {
  assert.throws(() => parseSidecarConfig(input), (err: unknown) => {
    assert.ok(err instanceof TrellisError);
    assert.equal(err.code, 'TRELLIS_ERR_VALIDATION');
    assert.equal(err.field, field);
    assert.match(err.message, message);
    return true;
  });
}

describe('sidecar config', () => {
  const dir = tempDir('proxy-config');
  after(() => dir.remove());

  it('fills in defaults and freezes the result', () => {
    const config = parseSidecarConfig({ service: 'payments', app: { port: 8080 }, upstreams: ['ledger', { service: 'db', port: 9192, protocol: 'tcp', timeout: '2s' }] });
    assert.match(config.id, /^payments-[0-9a-f]{6}$/);
    assert.equal(config.ttlMs, 10_000);
    assert.equal(config.http.maxHeaderSize, 16_384);
    assert.deepEqual(config.app?.health, { type: 'tcp', intervalMs: 1_000, timeoutMs: 1_000, failuresBeforeCritical: 1, successesBeforePassing: 1, initialStatus: 'critical' });
    assert.deepEqual(config.inbound.listen, { host: '127.0.0.1', port: 0 });
    assert.equal(config.upstreams[0]?.listen, undefined);
    assert.equal(config.upstreams[0]?.policy.timeoutMs, 15_000);
    assert.deepEqual(config.upstreams[1]?.listen, { host: '127.0.0.1', port: 9192 });
    assert.equal(config.upstreams[1]?.policy.timeoutMs, 2_000);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.upstreams));
  });

  it('names the wrong field', () => {
    fails({}, 'service', /service name is required/);
    fails({ service: 'x', app: { port: 70_000 } }, 'app.port', /between 1 and 65535/);
    fails({ service: 'x', colour: 'red' }, 'colour', /unknown field "colour"/);
    fails({ service: 'x', upstreams: [{ service: 'db', protocol: 'tcp' }] }, 'upstreams.0.port', /needs a local port/);
    fails({ service: 'x', upstreams: ['a', 'a'] }, 'upstreams.1.service', /listed twice/);
    fails({ service: 'x', upstreams: [{ service: 'a', retry: { maxAttempts: 0 } }] }, 'upstreams.0.retry.maxAttempts', /maxAttempts/);
    fails({ service: 'x', upstreams: [{ service: 'a', loadBalancer: 'random' }] }, 'upstreams.0.loadBalancer.strategy', /unknown load-balancing strategy/);
    fails({ service: 'x', upstreams: [{ service: 'a', loadBalancer: 'maglev' }] }, 'upstreams.0.hashHeader', /maglev places requests by a hash key, so it needs hashHeader/);
    fails({ service: 'x', http: { headersTimeout: '10m', requestTimeout: '1m' } }, 'http.headersTimeout', /must not be longer than requestTimeout/);
  });

  it('takes several control-plane replicas, separated by commas, and names a bad one', () => {
    const config = parseSidecarConfig({ service: 'payments', controlPlane: 'http://10.0.0.1:7700,http://10.0.0.2:7700' });
    assert.equal(config.controlPlane, 'http://10.0.0.1:7700,http://10.0.0.2:7700');
    fails({ service: 'x', controlPlane: 'http://10.0.0.1:7700,not a url' }, 'controlPlane', /several replicas separated by commas/);
  });

  it('puts the file and line into errors from a YAML file', () => {
    const file = parseConfigText('service: payments\nupstreams:\n  - ledger\n  - service: db\n    port: 99999\n', 'sidecar.yaml');
    let thrown: unknown;
    try { parseSidecarConfig(file.value); } catch (err) { thrown = file.locate(err); }
    assert.ok(thrown instanceof TrellisError);
    assert.equal(thrown.code, 'TRELLIS_ERR_CONFIG');
    assert.match(thrown.message, /^sidecar\.yaml:5: upstreams\.1\.port must be a whole number between 0 and 65535/);
  });

  it('`trellis proxy --config` reports a bad file with its line and exits 1', async () => {
    const path = join(dir.path, 'bad.yaml');
    writeFileSync(path, 'service: payments\napp:\n  port: 8080\n  colour: blue\n');
    const result = await runCli(['proxy', '--config', path]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /bad\.yaml:4: app\.colour: unknown field "colour"/);
    assert.match(result.stderr, /TRELLIS_ERR_CONFIG field=app\.colour/);
  });

  it('`trellis proxy` names the flag value that cannot be used', async () => {
    const result = await runCli(['proxy', '--service', 'x', '--upstream', 'Not A Service']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--upstream takes SERVICE\[:PORT\]\[\/http2\|grpc\|tcp\]/);
  });
});
