/**
 * A sidecar outlives its join token: `trellis proxy` started with a join token valid for 6 s
 * keeps heartbeating (and renewing its session) after the token expired — with mTLS (the
 * session comes with each certificate) and without (the join token is exchanged for sessions).
 * Nothing secret is in its log or its argument list.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { api, killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { mintNewToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { killSpawned, spawnCli } from '../mesh/spawn.js';
import { startApp, type App } from '../proxy/helpers.js';

const dir = tempDir('sidecar-session');
let server: ServerProcess;
let app: App;
before(async () => {
  server = await startServer(dir.path);
  app = await startApp('kept');
});
after(async () => {
  killSpawned();
  killAll();
  await app.close();
  dir.remove();
});

/** Requests the control plane answered, by route and status, from its open /metrics. */
async function answered(route: string, status: number): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('trellis_api_requests_total{') && l.includes(`route="${route}"`) && l.includes(`status_code="${status}"`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

const HEARTBEAT = '/v1/services/:service/instances/:id/heartbeat';

describe('a sidecar keeps its access after its join token expired', () => {
  for (const mtls of ['off', 'strict'] as const) {
    it(`with --mtls ${mtls}`, async () => {
      const service = `kept-${mtls}`;
      // 6 s: long enough for a sidecar to start and use it on a loaded machine (a 2 s token
      // could run out before a slow start got to register, which is another test).
      const join = await mintNewToken(server.url, service, '6s');
      const proxy = spawnCli(['proxy', '--service', service, '--id', `${service}-1`, '--control-plane', server.url, '--app-port', String(app.port),
        '--ttl', '1s', '--mtls', mtls, '--cert-lifetime', '4s', '--log-level', 'debug'], { env: { TRELLIS_TOKEN: join } });
      const ready = JSON.parse(await proxy.line(/"msg":"sidecar ready"/, 60_000)) as { admin: string };
      // Heartbeats go over the keep-alive stream (or HTTP when it cannot): the sidecar counts both.
      const beats = async (): Promise<number> => {
        const status = await (await fetch(`http://${ready.admin}/status`)).json() as { heartbeats?: { stream: number; http: number } };
        return (status.heartbeats?.stream ?? 0) + (status.heartbeats?.http ?? 0);
      };
      await waitFor('the instance to be registered and passing', async () => {
        const { json } = await api<{ instances: Array<{ id: string; status: string }> }>(`${server.url}/v1/services/${service}/instances?healthy=true`);
        return json.instances.some((i) => i.id === `${service}-1`);
      });

      // The join token's 6 s run out: it is refused from then on.
      await waitFor('the join token to expire', async () => {
        const { json } = await api(`${server.url}/v1/services`, 'GET', undefined, { authorization: `Bearer ${join}` });
        return json.error?.code === 'TRELLIS_ERR_TOKEN_EXPIRED';
      }, { timeoutMs: 30_000 });
      const sessions = mtls === 'off' ? '/v1/sessions' : '/v1/ca/sign';
      const [beatsAtExpiry, sessionsAtExpiry] = [await beats(), await answered(sessions, mtls === 'off' ? 201 : 200)];

      // Heartbeats go on (every ~333 ms), and its 4 s session is renewed twice, all after the expiry.
      await waitFor('heartbeats and session renewals after the expiry', async () =>
        (await beats()) >= beatsAtExpiry + 12 && (await answered(sessions, mtls === 'off' ? 201 : 200)) >= sessionsAtExpiry + 2, { timeoutMs: 20_000, everyMs: 200 });
      assert.equal(await answered(HEARTBEAT, 401), 0, 'no heartbeat was refused');
      assert.equal(await answered(HEARTBEAT, 403), 0, 'no heartbeat was refused');
      const { json } = await api<{ instances: Array<{ id: string; status: string }> }>(`${server.url}/v1/services/${service}/instances`);
      assert.deepEqual(json.instances.map((i) => [i.id, i.status]), [[`${service}-1`, 'passing']]);

      // Nothing secret in its output or its argument list.
      const secret = join.split('.')[2] ?? '';
      assert.doesNotMatch(proxy.output(), /trellis-(join|session)\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}/);
      assert.equal(proxy.output().includes(secret), false);
      assert.equal(readFileSync(`/proc/${proxy.pid}/cmdline`, 'utf8').includes(secret), false);
      proxy.child.kill('SIGTERM');
      assert.equal(await proxy.exited, 0, proxy.output());
    });
  }
});
