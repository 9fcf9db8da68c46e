/**
 * A real Prometheus (Debian's `prometheus`) finds every sidecar through the control plane's
 * http_sd endpoint (GET /v1/prometheus/targets, with a read-only token as its credentials) and
 * scrapes it: its query API returns request_total for each sidecar; `promtool check metrics`
 * passes on each sidecar's exposition and on the control plane's own. The endpoint refuses a call without a token.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { formatHostPort } from '../../src/util/host-port.js';
import { api, NO_TOKEN, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { endpointsReached, replica, send, sidecar, startApp, tearDown, url, type App } from '../proxy/helpers.js';

const dir = tempDir('prometheus-sd');
const sidecars: Sidecar[] = [];
const apps: App[] = [];
let server: ServerProcess;
let caller: Sidecar;
let readToken: string;
let prometheus: ChildProcess | undefined;
let prometheusOutput = '';

interface TargetGroup { targets: string[]; labels: Record<string, string> }
interface QueryAnswer { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }

/** A free loopback port (Prometheus cannot tell which port it bound for :0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

before(async () => {
  server = await startServer(dir.path, ['--dns', 'off']);
  for (const name of ['one', 'two']) {
    const app = await startApp(name);
    apps.push(app);
    sidecars.push(await replica(server.url, 'orders', app));
  }
  caller = await sidecar({ service: 'web', id: 'web-1', controlPlane: server.url, upstreams: ['orders'] });
  sidecars.push(caller);
  await endpointsReached(caller, 'orders', 2);
  // Traffic, so that every sidecar has request_total series: the caller outbound, both replicas inbound.
  for (let i = 0; i < 6; i++) assert.equal((await send(url(caller.outbound, `/orders/${i}`), { headers: { host: 'orders' } })).status, 200);
  const made = await runCli(['token', 'create', '--read-only', '--json', '--control-plane', server.url]);
  assert.equal(made.code, 0, made.stderr);
  readToken = (JSON.parse(made.stdout) as { token: string }).token;
});

after(async () => {
  prometheus?.kill('SIGKILL');
  await tearDown(dir, sidecars, apps);
});

it('serves http_sd target groups for every sidecar, to a read-only token and not without one', async () => {
  const groups = await waitFor('three sidecars in the http_sd targets', async () => {
    const answer = await api<TargetGroup[]>(`${server.url}/v1/prometheus/targets`, 'GET', undefined, { authorization: `Bearer ${readToken}` });
    return answer.status === 200 && answer.json.length === 3 ? answer.json : undefined;
  });
  const byInstance = new Map(groups.map((g) => [g.labels['instance'], g]));
  for (const s of sidecars) {
    const group = byInstance.get(s.config.id);
    assert.ok(group !== undefined, `a target group for ${s.config.id}: ${JSON.stringify(groups)}`);
    assert.deepEqual(group.targets, [formatHostPort(s.admin)]);
    assert.equal(group.labels['service'], s.config.service);
  }
  assert.equal(byInstance.get('orders-one')?.labels['__meta_trellis_health'], 'passing');
  const refused = await api(`${server.url}/v1/prometheus/targets`, 'GET', undefined, NO_TOKEN);
  assert.equal(refused.status, 401);
});

it('each sidecar\'s exposition passes promtool check metrics', async () => {
  for (const s of sidecars) {
    const text = await (await fetch(url(s.admin, '/metrics'))).text();
    assert.match(text, /^request_total\{/m, `${s.config.id} exposes request_total`);
    const checked = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(checked.status, 0, `promtool check metrics on ${s.config.id}: ${checked.stdout}${checked.stderr}`);
  }
});

it('the control plane\'s own exposition passes promtool check metrics', async () => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(text, /^trellis_api_request_duration_seconds_bucket\{/m, 'the control plane exposes its API latency in seconds');
  assert.match(text, /^trellis_api_requests_total\{/m, 'the control plane exposes its API requests');
  const checked = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(checked.status, 0, `promtool check metrics on the control plane: ${checked.stdout}${checked.stderr}`);
});

it('a real Prometheus discovers every sidecar through http_sd and scrapes request_total from each', async () => {
  const tokenFile = join(dir.path, 'prometheus-token');
  writeFileSync(tokenFile, readToken, { mode: 0o600 });
  // The prometheus.yml of docs/observability.md, with this test's addresses and intervals.
  const config = join(dir.path, 'prometheus.yml');
  writeFileSync(config, `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: trellis-sidecars
    http_sd_configs:
      - url: ${server.url}/v1/prometheus/targets
        refresh_interval: 1s
        authorization:
          type: Bearer   # say it: Debian's Prometheus 2.42 sends the bare token without it
          credentials_file: ${tokenFile}
`);
  const port = await freePort();
  prometheus = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(dir.path, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  prometheus.stdout?.on('data', (d: Buffer) => { prometheusOutput += d.toString(); });
  prometheus.stderr?.on('data', (d: Buffer) => { prometheusOutput += d.toString(); });
  const wanted = sidecars.map((s) => s.config.id).sort();
  const query = `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent('sum by (instance, service) (request_total{job="trellis-sidecars"})')}`;
  const result = await waitFor(`Prometheus returning request_total for ${wanted.join(', ')}`, async () => {
    assert.equal(prometheus?.exitCode, null, `prometheus exited: ${prometheusOutput}`);
    const answer = await (await fetch(query)).json() as QueryAnswer;
    const seen = answer.data.result.map((r) => r.metric['instance']).sort();
    return JSON.stringify(seen) === JSON.stringify(wanted) ? answer.data.result : undefined;
  }, { timeoutMs: 30_000, everyMs: 250 }).catch((err: Error) => {
    throw new Error(`${err.message}; prometheus said: ${prometheusOutput.slice(-3_000)}`);
  });
  for (const series of result) {
    const id = series.metric['instance'];
    assert.equal(series.metric['service'], id === 'web-1' ? 'web' : 'orders');
    assert.ok(Number(series.value[1]) > 0, `${id} counted requests: ${series.value[1]}`);
  }
  const inboundTotal = result.filter((r) => r.metric['service'] === 'orders').reduce((sum, r) => sum + Number(r.value[1]), 0);
  assert.equal(inboundTotal, 6, 'the replicas together served the six requests sent');
});
