/**
 * Traffic routes over xDS (src/control-plane/xds/routes.ts) with real @grpc/grpc-js-xds
 * clients: a route attached to my-service splits its calls 90/10 between the subsets
 * version=v1 and version=v2 (weighted_clusters, one EDS cluster per subset), and a header
 * match sends a caller's calls with `x-canary: 1` to v2 only — applied within 1 s of the
 * route's write; deleting the route brings back the service-wide round robin.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminApi, killAll, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminToken, mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { calls, describeCalls, killXdsProcs, spawnFixture, type Proc } from '../helpers/xds.js';

const SERVICE = 'my-service';
/** Calls counted for the split: 10% of 600 is 60 ± 7.3 (one standard deviation). */
const SAMPLE = 600;

const ROUTE = {
  name: 'canary',
  parentRefs: [{ name: SERVICE }],
  subsets: { v1: { version: 'v1' }, v2: { version: 'v2' } },
  rules: [
    { matches: [{ headers: [{ name: 'x-canary', value: '1' }] }], backendRefs: [{ subset: 'v2', weight: 1 }] },
    { backendRefs: [{ subset: 'v1', weight: 90 }, { subset: 'v2', weight: 10 }] },
  ],
};

describe('traffic routes over xDS (route splits, header matches)', () => {
  const data = tempDir('xds-routes');
  let server: ServerProcess;
  let plain: Proc;
  let canary: Proc;

  before(async () => {
    server = await startServer(join(data.path, 'cp'), ['--xds', '127.0.0.1:0', '--log-level', 'info']);
    await waitFor('the xds address in the ready line', () => /"xds":"([^"]+)"/.exec(server.output())?.[1]);
    const admin = adminToken(server.url)!;
    await Promise.all([['v1-a', 'v1'], ['v2-a', 'v2']].map(async ([id, version]) => {
      const proc = spawnFixture('xds-backend.js', { CP: server.url, TOKEN: admin, SERVICE, ID: id, LABELS: JSON.stringify({ version }) });
      await waitFor(`${id} ready`, () => proc.lines.find((l) => l.includes('"ready"')), { timeoutMs: 15_000 });
    }));
    const bootstrap = join(data.path, 'bootstrap.json');
    const token = await mintToken(server.url, 'caller');
    const written = await runCli(['xds', 'bootstrap', '--service', 'caller', '--control-plane', server.url, '--out', bootstrap], { TRELLIS_TOKEN: token });
    assert.equal(written.code, 0, written.stderr);
    plain = spawnFixture('xds-client.js', { GRPC_XDS_BOOTSTRAP: bootstrap, TARGET: SERVICE });
    canary = spawnFixture('xds-client.js', { GRPC_XDS_BOOTSTRAP: bootstrap, TARGET: SERVICE, HEADERS: JSON.stringify({ 'x-canary': '1' }) });
  });

  after(async () => {
    killXdsProcs();
    killAll();
    await server?.kill();
    data.remove();
  });

  it('without a route, both instances get calls', async () => {
    const start = Date.now();
    await waitFor('both clients reaching both instances', () => [plain, canary].every((c) => new Set(calls(c, start).map((x) => x.id)).size === 2), { timeoutMs: 20_000 });
  });

  it('a route applies within 1 s: the header match sends x-canary calls to v2 only, the rest split 90/10', async () => {
    const put = await adminApi(`${server.url}/v1/traffic-routes`, 'PUT', { routes: [ROUTE] });
    assert.equal(put.status, 200, JSON.stringify(put.json));
    const appliedAt = Date.now();
    await waitFor(`${SAMPLE} calls of the plain client from 1 s after the write`, () => calls(plain, appliedAt + 1_000).length >= SAMPLE && calls(canary, appliedAt + 1_000).length >= 50, { timeoutMs: 60_000 });
    const routed = calls(canary, appliedAt + 1_000);
    assert.ok(routed.every((c) => c.id === 'v2-a'), `a call with x-canary: 1 reached another instance than v2 more than 1 s after the route was written: ${describeCalls(routed)}`);
    const split = calls(plain, appliedAt + 1_000).slice(0, SAMPLE);
    assert.equal(split.filter((c) => c.code !== 0).length, 0, `calls failed under the split: ${describeCalls(split)}`);
    const v2 = split.filter((c) => c.id === 'v2-a').length;
    // 10% of 600: 60 expected; [20, 110] is more than 5 standard deviations either side.
    assert.ok(v2 >= 20 && v2 <= 110, `v2 got ${v2} of ${SAMPLE} calls under a 90/10 split (expected about 60): ${describeCalls(split)}`);
  });

  it('deleting the route brings back the service-wide balancing', async () => {
    const deleted = await adminApi(`${server.url}/v1/traffic-routes/${ROUTE.name}`, 'DELETE');
    assert.equal(deleted.status, 200, JSON.stringify(deleted.json));
    const deletedAt = Date.now();
    await waitFor('the canary client reaching v1 again', () => calls(canary, deletedAt).some((c) => c.id === 'v1-a'), { timeoutMs: 10_000 });
  });
});
