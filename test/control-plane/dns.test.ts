/** `dig @127.0.0.1 -p PORT my-service.service.trellis SRV` lists exactly the healthy instances. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ControlPlaneClient } from '../../src/client/control-plane.js';
import { adminClient } from '../helpers/tokens.js';
import { killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

async function dig(port: number, ...args: string[]): Promise<string[]> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+short', '+time=2', '+tries=1', ...args]);
  return stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '').sort();
}

describe('DNS interface (control plane + dig)', () => {
  const dir = tempDir('dns');
  let server: ServerProcess;
  let client: ControlPlaneClient;

  before(async () => {
    server = await startServer(dir.path);
    client = adminClient(server.url);
    await client.register('my-service', 'a', { address: '127.0.0.1', port: 8081 });
    await client.register('my-service', 'b', { address: '127.0.0.2', port: 8082, weight: 3 });
    // c is registered with a TTL and never heartbeats: it goes critical.
    await client.register('my-service', 'c', { address: '127.0.0.3', port: 8083, ttl: '500ms' });
    await waitFor('c to go critical', async () =>
      (await client.instances('my-service')).instances.find((i) => i.id === 'c')?.status === 'critical');
  });

  after(() => { killAll(); dir.remove(); });

  it('answers SRV with exactly the healthy instances, over UDP and TCP', async () => {
    const expected = ['1 1 8081 a.my-service.instance.trellis.', '1 3 8082 b.my-service.instance.trellis.'];
    assert.deepEqual(await dig(server.dnsPort, 'my-service.service.trellis', 'SRV'), expected);
    assert.deepEqual(await dig(server.dnsPort, '+tcp', 'my-service.service.trellis', 'SRV'), expected);
  });

  it('answers A with the healthy addresses', async () => {
    assert.deepEqual(await dig(server.dnsPort, 'my-service.service.trellis', 'A'), ['127.0.0.1', '127.0.0.2']);
  });

  it('follows health changes at once', async () => {
    await client.heartbeat('my-service', 'c');
    assert.deepEqual(await dig(server.dnsPort, 'my-service.service.trellis', 'A'), ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
    await client.deregister('my-service', 'a');
    assert.deepEqual(await dig(server.dnsPort, 'my-service.service.trellis', 'A'), ['127.0.0.2', '127.0.0.3']);
  });

  it('answers NXDOMAIN for an unknown service', async () => {
    const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(server.dnsPort), '+time=2', '+tries=1', 'nope.service.trellis', 'A']);
    assert.match(stdout, /status: NXDOMAIN/);
  });
});
