/**
 * The gateway against HAProxy, same run, same job: TLS 1.3 terminated at the edge (one
 * ECDSA P-256 certificate), a route on path prefix `/` to one upstream (nginx answering a
 * small body), keep-alive on both sides, no authentication on either (the gateway's JWT
 * check is not in these figures). wrk, one thread, 50 connections over HTTPS, rounds
 * alternating between the two. CPU per request from /proc of the proxy process.
 *
 *     node dist/bench/gateway.js [runs=2] [seconds=5]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { haproxyConf, startUpstreamAndControlPlane, type Tools } from './dataplane.js';
import { adminHeaders, CLI, sidecarEnv, startChild } from './lib.js';
import { runWrk, startServer, track, versionOf, waitForOk, which } from './proc.js';
import { SIDECAR_V8_FLAGS } from '../src/proxy/v8-flags.js';

/** Resolves once something accepts TCP connections on the port (10 s at most). */
async function listening(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const runs = Number(process.argv[2] ?? 2);
const seconds = Number(process.argv[3] ?? 5);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function measure(label: string, url: string, pid: number): Promise<void> {
  await runWrk(tools.wrk, url, 50, 1);
  for (let i = 0; i < runs; i++) {
    const before = cpuOf(pid);
    const result = await runWrk(tools.wrk, url, 50, seconds);
    const us = ((cpuOf(pid) - before) * 1e6) / Math.max(1, result.requests);
    process.stdout.write(`${label} run ${i + 1}: ${result.requestsPerSec.toFixed(0)} req/s, ${result.errors} errors, ${us.toFixed(1)} µs CPU/req; load ${loadavg()[0]?.toFixed(2)}\n`);
  }
}

const tools: Tools = { haproxy: which('haproxy'), nginx: which('nginx'), wrk: which('wrk') };
const dir = mkdtempSync(join(tmpdir(), 'trellis-gw-bench-'));
const stops: Array<() => Promise<void>> = [];
try {
  process.stdout.write(`${versionOf(tools.haproxy, ['-v'])}; node ${process.version}; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  const { upstreamPort, cp } = await startUpstreamAndControlPlane(dir, tools, stops);
  const cert = join(dir, 'gw.pem');
  const key = join(dir, 'gw.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  writeFileSync(join(dir, 'both.pem'), readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
  const json = { 'content-type': 'application/json', ...adminHeaders(cp.url) };
  await (await request(`${cp.url}/v1/services/hello-direct/instances/upstream-1`, { method: 'PUT', body: JSON.stringify({ address: '127.0.0.1', port: upstreamPort }), headers: json })).body.dump();
  await (await request(`${cp.url}/v1/traffic-routes`, { method: 'PUT', headers: json, body: JSON.stringify({ routes: [
    { name: 'bench-edge', parentRefs: [{ kind: 'Gateway', name: 'edge' }], rules: [{ backendRefs: [{ name: 'hello-direct' }] }] },
  ] }) })).body.dump();

  const gwPort = await freePort();
  writeFileSync(join(dir, 'gateway.yaml'), JSON.stringify({
    name: 'edge', controlPlane: cp.url, upstreams: ['hello-direct'], mtls: 'off',
    listeners: [{ name: 'websecure', protocol: 'HTTPS', address: `127.0.0.1:${gwPort}`, certificates: [{ cert, key }] }],
  }));
  const gw = await startChild([...SIDECAR_V8_FLAGS, CLI, 'gateway', '--config', join(dir, 'gateway.yaml'), '--log-level', 'warn'],
    (line) => (line.includes('"gateway":"serving"') ? line : undefined), await sidecarEnv(cp.url, 'edge'));
  track(gw.child);
  stops.push(() => gw.stop());
  const gwUrl = `https://127.0.0.1:${gwPort}/`;
  await waitForOk(gwUrl).catch(() => undefined);

  const haPort = await freePort();
  writeFileSync(join(dir, 'haproxy.cfg'), haproxyConf(haPort, upstreamPort, { global: 'ssl-default-bind-options ssl-min-ver TLSv1.2', bind: `ssl crt ${join(dir, 'both.pem')} alpn http/1.1` }));
  const ha = startServer(tools.haproxy, ['-f', join(dir, 'haproxy.cfg'), '-db']);
  stops.push(() => ha.stop());
  const haUrl = `https://127.0.0.1:${haPort}/`;
  await listening(haPort);

  for (const round of [1, 2]) {
    process.stdout.write(`-- round ${round}\n`);
    await measure('haproxy (nbthread 1)', haUrl, ha.pid);
    await measure('trellis gateway', gwUrl, gw.child.pid ?? 0);
  }
} finally {
  for (const stop of stops.reverse()) await stop();
  rmSync(dir, { recursive: true, force: true });
}
