/**
 * Raw TCP goes through the same stack as HTTP requests: a tcp upstream with two live echo
 * replicas (each behind its sidecar, mTLS between the sidecars) and one dead endpoint (an
 * instance registered at the port of a listener that was closed). Every connection succeeds
 * on a live replica — a connect to the dead one is retried within the retry budget, with
 * back-off — the dead endpoint is ejected by outlier detection (status and metrics show it),
 * and every connection is counted in the TCP metrics and gets one access-log line. With no
 * budget left, a connection whose connect failed is not retried (and the budget's refusal is
 * counted).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../src/agent/sidecar.js';
import type { HostPort } from '../../src/util/host-port.js';
import { killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminClient } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { metricValue } from '../telemetry/prometheus.js';
import { endpointsReached, sidecar, url } from './helpers.js';

/** Write `bytes`, half-close, and collect everything until the server closes. */
function exchange(at: HostPort, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(at.port, at.host, () => socket.end(bytes));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { text += chunk; });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

async function listening(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** A port nobody listens on any more: a real listener's, closed. */
async function deadPort(): Promise<number> {
  const closed = createServer();
  const port = await listening(closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  return port;
}

async function metrics(s: Sidecar): Promise<string> {
  const response = await fetch(url(s.admin, '/metrics'));
  return response.text();
}

/** Sum of every sample of `name` whose labels include `labels`. */
function sum(text: string, name: string, labels: Readonly<Record<string, string>>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const value = metricValue(line, name, labels);
    if (value !== undefined) total += value;
  }
  return total;
}

interface ConnectionLine {
  protocol: string; direction: string; service: string; peer: string; class: string; blame: string; error: string;
  attempts: number; sentBytes: number; receivedBytes: number; endpointId: string | null; connectionId: string;
}

function tcpLines(path: string): ConnectionLine[] {
  let text = '';
  try { text = readFileSync(path, 'utf8'); } catch { return []; }
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ConnectionLine & { protocol?: string }).filter((l) => l.protocol === 'tcp');
}

describe('raw TCP through the stack', () => {
  const dir = tempDir('proxy-tcp');
  const sidecars: Sidecar[] = [];
  const echoes: Server[] = [];
  let server: ServerProcess;

  before(async () => {
    server = await startServer(dir.path);
    for (const name of ['1', '2']) {
      const echo = createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
      echoes.push(echo);
      const port = await listening(echo);
      sidecars.push(await sidecar({
        service: 'echo', id: `echo-${name}`, controlPlane: server.url, ttl: '1s',
        app: { port, protocol: 'tcp', health: { interval: '200ms' } },
        telemetry: { accessLog: join(dir.path, `echo-${name}.log`) },
      }));
    }
    // Registered, never healthy-checked, its port closed: every connect to it is refused.
    await adminClient(server.url).register('echo', 'echo-dead', { address: '127.0.0.1', port: await deadPort() });
  });

  after(async () => {
    await Promise.all(sidecars.map((s) => s.close()));
    for (const echo of echoes) echo.close();
    killAll();
    dir.remove();
  });

  it('retries connects to a dead endpoint within the budget, ejects it, and counts and logs every connection', async () => {
    const log = join(dir.path, 'caller.log');
    const caller = await sidecar({
      service: 'caller', controlPlane: server.url, telemetry: { accessLog: log },
      upstreams: [{ service: 'echo', port: 0, protocol: 'tcp', loadBalancer: 'round-robin' }],
    });
    sidecars.push(caller);
    await endpointsReached(caller, 'echo', 3);
    const port = caller.upstreamPorts['echo'];
    assert.ok(port !== undefined);

    const total = 30;
    const payloads = Array.from({ length: total }, (_, i) => `connection ${i} ${'x'.repeat(i * 10)}\n`);
    const answers: string[] = [];
    // Three at a time: several connections meet the dead endpoint before it is ejected.
    for (let i = 0; i < total; i += 3) answers.push(...await Promise.all(payloads.slice(i, i + 3).map((p) => exchange(port, p))));
    assert.deepEqual(answers, payloads, 'every connection was relayed to a live replica and echoed whole');

    const status = await (await fetch(url(caller.admin, '/status'))).json() as { upstreams: Record<string, { ejected: string[]; endpoints: string[] }> };
    assert.deepEqual(status.upstreams['echo']?.ejected, ['echo-dead'], 'the dead endpoint is ejected by outlier detection (admin /status)');
    assert.equal(status.upstreams['echo']?.endpoints.length, 3, 'still registered: ejected by the caller, not by the registry');

    const text = await metrics(caller);
    const out = { direction: 'outbound', dst_service: 'echo' };
    const retries = metricValue(text, 'trellis_retries_total', { dst_service: 'echo' }) ?? 0;
    assert.ok(retries >= 2, `connects to the dead endpoint were retried (${retries})`);
    assert.equal(metricValue(text, 'trellis_retry_budget_exhausted_total', { dst_service: 'echo' }) ?? 0, 0, 'all within the budget');
    assert.equal(metricValue(text, 'trellis_outlier_ejections_total', { dst_service: 'echo' }), 1);
    assert.equal(sum(text, 'trellis_tcp_connections_total', { ...out, class: 'success' }), total);
    assert.equal(sum(text, 'trellis_tcp_connections_total', { ...out, endpoint: 'echo-dead' }), 0, 'no connection ended on the dead endpoint');
    const perReplica = ['echo-1', 'echo-2'].map((id) => metricValue(text, 'trellis_tcp_connections_total', { ...out, endpoint: id, class: 'success', error: '' }) ?? 0);
    assert.equal(perReplica[0] + perReplica[1], total);
    assert.ok(perReplica.every((n) => n > 0), `both live replicas took connections (${perReplica.join(', ')})`);
    const bytes = payloads.reduce((n, p) => n + Buffer.byteLength(p), 0);
    assert.equal(sum(text, 'trellis_tcp_sent_bytes_total', out), bytes, 'bytes client → upstream');
    assert.equal(sum(text, 'trellis_tcp_received_bytes_total', out), bytes, 'bytes upstream → client');
    assert.equal(sum(text, 'trellis_tcp_connection_duration_seconds_count', out), total);
    assert.equal(sum(text, 'trellis_tcp_open_connections', out), 0, 'nothing left open');

    // One access-log line per connection (the log's buffer is written within 250 ms).
    const lines = await waitFor('a line per connection in the caller\'s access log', () => {
      const found = tcpLines(log);
      return found.length >= total ? found : undefined;
    });
    assert.equal(lines.length, total);
    assert.equal(new Set(lines.map((l) => l.connectionId)).size, total, 'one line each');
    assert.ok(lines.every((l) => l.direction === 'outbound' && l.service === 'echo' && l.peer === 'caller' && l.class === 'success' && l.blame === 'none' && l.error === ''));
    assert.ok(lines.every((l) => l.endpointId === 'echo-1' || l.endpointId === 'echo-2'));
    assert.equal(lines.reduce((n, l) => n + l.sentBytes, 0), bytes);
    const retried = lines.filter((l) => l.attempts > 1).length;
    assert.ok(retried >= 2 && retried <= retries, `connections that needed a second endpoint: ${retried}`);

    // The replicas' sidecars saw the connections too, inbound, from the caller (its mTLS identity).
    const inbound = await Promise.all(sidecars.slice(0, 2).map(metrics));
    const seen = inbound.reduce((n, t) => n + sum(t, 'trellis_tcp_connections_total', { direction: 'inbound', dst_service: 'echo', class: 'success' }), 0);
    assert.equal(seen, total);
    const inboundLines = await waitFor('the replicas\' lines', () => {
      const found = [...tcpLines(join(dir.path, 'echo-1.log')), ...tcpLines(join(dir.path, 'echo-2.log'))];
      return found.length >= total ? found : undefined;
    });
    assert.ok(inboundLines.every((l) => l.direction === 'inbound' && l.peer === 'caller'), 'inbound lines name the calling service');
  });

  it('does not retry a failed connect once the retry budget is spent, and counts the refusal', async () => {
    const caller = await sidecar({
      service: 'frugal', controlPlane: server.url,
      upstreams: [{
        service: 'echo', port: 0, protocol: 'tcp', loadBalancer: 'round-robin',
        retry: { budgetRatio: 0, minRetriesPerSecond: 0 }, outlierDetection: { consecutiveConnectFailures: 0, consecutive5xx: 0 },
      }],
    });
    sidecars.push(caller);
    await endpointsReached(caller, 'echo', 3);
    const port = caller.upstreamPorts['echo'];
    assert.ok(port !== undefined);
    const answers: string[] = [];
    for (let i = 0; i < 9; i += 1) answers.push(await exchange(port, `try ${i}\n`));
    const failed = answers.filter((a) => a === '').length;
    assert.equal(failed, 3, `round-robin over three endpoints: every third connection met the dead one and was closed (${answers.join('|')})`);
    const text = await metrics(caller);
    assert.equal(metricValue(text, 'trellis_retries_total', { dst_service: 'echo' }) ?? 0, 0);
    assert.equal(metricValue(text, 'trellis_retry_budget_exhausted_total', { dst_service: 'echo' }), failed);
    assert.equal(metricValue(text, 'trellis_tcp_connections_total', { direction: 'outbound', dst_service: 'echo', endpoint: 'echo-dead', class: 'connect-failure', error: 'TRELLIS_ERR_UPSTREAM_CONNECT' }), failed);
    assert.deepEqual(caller.status().upstreams['echo']?.ejected, [], 'outlier detection is off here');
  });
});
