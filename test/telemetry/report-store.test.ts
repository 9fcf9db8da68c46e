/**
 * Sidecar telemetry reports of an embedded control plane are kept apart from the registry
 * (issue 20 item 8): however many arrive, the registry's revision — its watch history and its
 * database — does not move, and the reports are still served.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ControlPlaneClient } from '../../src/client/control-plane.js';
import type { TelemetryReport } from '../../src/telemetry/snapshot.js';
import { adminClient, adminHeaders } from '../helpers/tokens.js';
import { killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';

function report(at: number): TelemetryReport {
  return {
    at, startedAt: at - 1_000, intervalMs: 1_000, app: { status: 'passing', output: 'ok' }, registration: 'registered',
    controlPlane: 'connected', upstreams: {}, traffic: [], retries: {}, ejections: {}, circuitRejections: {},
    tlsHandshakeFailures: 0, openConnections: 0, certificate: null, admin: null, tap: [],
  };
}

describe('telemetry reports out of the watch history', () => {
  const dir = tempDir('report-store');
  let server: ServerProcess;
  let client: ControlPlaneClient;
  before(async () => {
    server = await startServer(dir.path, ['--dns', 'off']);
    client = adminClient(server.url);
  });
  after(() => { killAll(); dir.remove(); });

  it('takes 200 reports without using a single revision of the registry', async () => {
    await client.register('reporting', 'r-1', { address: '127.0.0.1', port: 9001 });
    const before = (await client.status()).revision;
    const now = Date.now();
    for (let i = 0; i < 200; i += 1) await client.pushTelemetry('reporting', 'r-1', report(now + i));
    const after = (await client.status()).revision;
    assert.equal(after, before, 'reports are not registry writes');
    const answer = await fetch(`${server.url}/v1/telemetry`, { headers: adminHeaders(server.url) });
    const { sidecars } = await answer.json() as { sidecars: Array<{ service: string; id: string; report: { at: number } }> };
    assert.deepEqual(sidecars.map((s) => [s.service, s.id, s.report.at]), [['reporting', 'r-1', now + 199]], 'the latest report is served');
  });
});
