/**
 * Three replicas, each a plain node:http app behind its own sidecar, and a caller
 * sidecar: 3,000 requests through the caller's outbound listener are spread evenly under
 * round-robin, and 1:2:3 under registry weights 1:2:3 with weighted round-robin.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { distribution, endpointsReached, replica, sidecar, startApp, type App, tearDown } from './helpers.js';

const TOTAL = 3_000;

function assertShares(counts: Map<string, number>, expected: Record<string, number>): void {
  assert.equal([...counts.values()].reduce((a, b) => a + b, 0), TOTAL, `every request answered by a replica: ${JSON.stringify([...counts])}`);
  for (const [name, share] of Object.entries(expected)) {
    const want = TOTAL * share;
    const got = counts.get(name) ?? 0;
    assert.ok(Math.abs(got - want) <= want * 0.05, `${name}: ${got} requests, expected ${want} ±5% (${JSON.stringify([...counts])})`);
  }
}

describe('load distribution through sidecars', () => {
  const dir = tempDir('proxy-distribution');
  const apps: App[] = [];
  const sidecars: Sidecar[] = [];
  let server: ServerProcess;
  let caller: Sidecar;

  before(async () => {
    server = await startServer(dir.path);
    for (const [index, name] of ['a', 'b', 'c'].entries()) {
      const even = await startApp(`even-${name}`);
      const weighted = await startApp(`weighted-${name}`);
      apps.push(even, weighted);
      sidecars.push(await replica(server.url, 'even', even));
      sidecars.push(await replica(server.url, 'weighted', weighted, { weight: index + 1 }));
    }
    caller = await sidecar({
      service: 'caller',
      controlPlane: server.url,
      upstreams: [
        { service: 'even', loadBalancer: 'round-robin' },
        { service: 'weighted', loadBalancer: 'weighted-round-robin' },
      ],
    });
    sidecars.push(caller);
    await endpointsReached(caller, 'even', 3);
    await endpointsReached(caller, 'weighted', 3);
  });

  after(() => tearDown(dir, sidecars, apps));

  it('spreads 3,000 requests evenly under round-robin', async () => {
    const counts = await distribution(caller.outbound, 'even', TOTAL);
    assertShares(counts, { 'even-a': 1 / 3, 'even-b': 1 / 3, 'even-c': 1 / 3 });
  });

  it('follows registry weights 1:2:3 under weighted round-robin', async () => {
    const counts = await distribution(caller.outbound, 'weighted', TOTAL);
    assertShares(counts, { 'weighted-a': 1 / 6, 'weighted-b': 2 / 6, 'weighted-c': 3 / 6 });
  });
});
