/**
 * A flood of registrations and heartbeats from one token is refused with 429
 * TRELLIS_ERR_RATE_LIMITED and Retry-After once it exhausts its bucket; other tokens are served
 * meanwhile, and the flooding token is served again after the wait (issue 13).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ControlPlaneClient } from '../../src/client/control-plane.js';
import { TrellisError } from '../../src/errors.js';
import { adminClient, mintNewToken } from '../helpers/tokens.js';
import { killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const RATE = 20;

describe('per-token rate limit on registrations and heartbeats', () => {
  const dir = tempDir('rate-limit');
  let server: ServerProcess;
  before(async () => { server = await startServer(dir.path, ['--dns', 'off', '--rate-limit', String(RATE)]); });
  after(() => { killAll(); dir.remove(); });

  it('refuses a flooding token with a coded 429 and Retry-After, while another token is served', async () => {
    const flooder = new ControlPlaneClient(server.url, await mintNewToken(server.url, 'noisy'));
    const quiet = new ControlPlaneClient(server.url, await mintNewToken(server.url, 'quiet'));
    await flooder.register('noisy', 'n-1', { address: '127.0.0.1', port: 9001, ttl: '30s' });
    let accepted = 1;
    let refused: TrellisError | undefined;
    for (let i = 0; i < RATE * 10 && refused === undefined; i += 1) {
      try {
        await flooder.heartbeat('noisy', 'n-1');
        accepted += 1;
      } catch (err) {
        if (!(err instanceof TrellisError)) throw err;
        refused = err;
      }
    }
    assert.ok(refused !== undefined, `refused after ${accepted} calls`);
    assert.equal(refused.code, 'TRELLIS_ERR_RATE_LIMITED');
    assert.match(refused.message, /retry after \d+ s/);
    assert.ok(accepted >= RATE * 2 && accepted < RATE * 4, `${accepted} calls accepted before the limit (burst ${RATE * 2})`);

    // The raw answer: 429 with Retry-After and the one error shape.
    const token = await mintNewToken(server.url, 'noisy');
    const raw = new ControlPlaneClient(server.url, token);
    await raw.heartbeatMany('noisy', Array.from({ length: RATE * 2 }, () => 'n-1')).catch(() => undefined); // empty its bucket
    const res = await fetch(`${server.url}/v1/services/noisy/instances/n-1/heartbeat`, { method: 'PUT', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 429);
    assert.match(res.headers.get('retry-after') ?? '', /^\d+$/);
    const body = await res.json() as { error: { code: string; retryAfterSeconds: number } };
    assert.equal(body.error.code, 'TRELLIS_ERR_RATE_LIMITED');

    // Other tokens are not held up by the flood.
    await quiet.register('quiet', 'q-1', { address: '127.0.0.1', port: 9002, ttl: '30s' });
    await quiet.heartbeat('quiet', 'q-1');
    assert.equal((await adminClient(server.url).service('quiet')).service.instances, 1);

    // The flooder is served again once its bucket refills.
    await waitFor('the flooding token served again', () => flooder.heartbeat('noisy', 'n-1').then(() => true, () => false), { timeoutMs: 10_000, everyMs: 200 });
  });
});
