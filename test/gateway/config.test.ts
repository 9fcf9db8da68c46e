/**
 * What a gateway refuses before it serves: routes attached to a gateway validated with the
 * field named (kinds mixed, a backend without a service, hostnames on a service route), and
 * `trellis gateway --config` with a bad file: a coded error naming the file, line and field.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TrellisError } from '../../src/errors.js';
import { parseGatewayConfig } from '../../src/gateway/config.js';
import { JwtAuthenticator } from '../../src/gateway/jwt.js';
import { GatewayRouter } from '../../src/gateway/router.js';
import { parseRoute } from '../../src/proxy/routing/schema.js';
import { runCli, tempDir } from '../helpers/processes.js';

function refusal(input: unknown): TrellisError {
  try {
    parseRoute(input);
  } catch (err) {
    assert.ok(err instanceof TrellisError, 'a TrellisError');
    return err;
  }
  assert.fail('the route was accepted');
}

describe('gateway routes and config: bad input refused with the field named', () => {
  const data = tempDir('gateway-config');
  after(() => data.remove());

  it('a route mixing Service and Gateway parents, a gateway backend without a name, hostnames on a service route', () => {
    const mixed = refusal({ name: 'r', parentRefs: [{ kind: 'Gateway', name: 'edge' }, { name: 'orders' }], rules: [{ backendRefs: [{ name: 'orders' }] }] });
    assert.equal(mixed.field, 'parentRefs', mixed.message);
    const nameless = refusal({ name: 'r', parentRefs: [{ kind: 'Gateway', name: 'edge' }], rules: [{ backendRefs: [{ weight: 1 }] }] });
    assert.equal(nameless.field, 'rules.0.backendRefs.0.name', nameless.message);
    const hosts = refusal({ name: 'r', parentRefs: [{ name: 'orders' }], hostnames: ['api.example.test'], rules: [{}] });
    assert.equal(hosts.field, 'hostnames', hosts.message);
    const badHost = refusal({ name: 'r', parentRefs: [{ kind: 'Gateway', name: 'edge' }], hostnames: ['API_example'], rules: [{ backendRefs: [{ name: 'orders' }] }] });
    assert.equal(badHost.field, 'hostnames.0', badHost.message);
  });

  it('routes by exact host, then its wildcard, then any host; weighted backends by the injected draw', () => {
    const route = (name: string, hostnames: string[] | undefined, backends: Array<{ name: string; weight: number }>): ReturnType<typeof parseRoute> =>
      parseRoute({ name, parentRefs: [{ kind: 'Gateway', name: 'edge' }], ...(hostnames === undefined ? {} : { hostnames }), rules: [{ backendRefs: backends }] });
    const router = new GatewayRouter('edge', [
      route('exact', ['a.example.test'], [{ name: 'one', weight: 1 }]),
      route('wild', ['*.example.test'], [{ name: 'two', weight: 90 }, { name: 'three', weight: 10 }]),
      route('any', undefined, [{ name: 'four', weight: 1 }]),
    ]);
    const to = (host: string, draw: number): string => {
      const r = router.route(host, 'GET', '/', {}, draw);
      return r.ok ? r.service : r.reason;
    };
    assert.equal(to('a.example.test:8443', 0.5), 'one');
    assert.equal(to('b.example.test', 0.5), 'two');
    assert.equal(to('b.example.test', 0.95), 'three', 'a draw past 0.9 takes the 10% backend');
    assert.equal(to('elsewhere.test', 0.5), 'four');
  });

  it('a JWKS from an http URL: fetched by jose, a token signed with its key passes, one of another key does not', async () => {
    const signing = await generateKeyPair('ES256', { extractable: true });
    const other = await generateKeyPair('ES256');
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(signing.publicKey)), kid: 'url-key', alg: 'ES256' }] });
    let fetched = 0;
    const server = createServer((req, res) => {
      fetched += 1;
      res.setHeader('content-type', 'application/json');
      res.end(jwks);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const config = parseGatewayConfig({
        name: 'edge', controlPlane: 'http://127.0.0.1:1', upstreams: ['orders'], listeners: [{ name: 'web', protocol: 'HTTP', address: '127.0.0.1:0' }],
        authentication: { jwt: { jwks: { url: `http://127.0.0.1:${port}/jwks.json` }, audience: 'api' } },
      });
      const jwt = config.authentication.jwt;
      assert.ok(jwt !== undefined);
      const auth = await JwtAuthenticator.open(jwt);
      const sign = (key: CryptoKey): Promise<string> => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'url-key' }).setAudience('api').setSubject('bob').setExpirationTime('5m').sign(key);
      const good = await auth.verify(await sign(signing.privateKey));
      assert.ok(good.ok, `a token of the URL's key: ${good.ok ? '' : good.reason}`);
      const bad = await auth.verify(await sign(other.privateKey));
      assert.ok(!bad.ok && /signature does not verify/.test(bad.reason), `another key's token: ${bad.ok ? 'accepted' : bad.reason}`);
      assert.ok(fetched >= 1, 'the key set was fetched from the URL');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('trellis gateway --config with a bad field: TRELLIS_ERR_CONFIG naming the file, line and field', async () => {
    const file = join(data.path, 'gateway.yaml');
    writeFileSync(file, 'name: edge\ncontrolPlane: http://127.0.0.1:1\nupstreams: [orders]\nlisteners:\n  - name: websecure\n    protocol: HTTPS\n    address: 127.0.0.1:0\n');
    const { code, stderr } = await runCli(['gateway', '--config', file], { TRELLIS_TOKEN: 'x' });
    assert.notEqual(code, 0, 'it does not start');
    assert.match(stderr, /gateway\.yaml:5.*listeners\.0\.certificates.*an HTTPS listener needs certificates/s, stderr);
  });
});
