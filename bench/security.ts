/**
 * What mutual TLS costs (issue 4): the same mesh path — wrk → client sidecar (per-upstream
 * port) → server sidecar (inbound) → upstream — with the sidecars in mode off (plaintext)
 * and in mode strict (TLS 1.3, both certificates checked), in the same run:
 *
 *   saturation requests/s   wrk, one thread, 50 connections (keep-alive: few handshakes)
 *   p50 / p99 at 1,000/s    the open-loop generator (./fixed-rate.ts), latency from the intended send time
 *   handshakes/s            new connections to the server sidecar's inbound port from 4 concurrent
 *                           clients: TCP connects (plaintext reference), full mTLS handshakes, and
 *                           handshakes resuming a TLS 1.3 session (its share of reused sessions reported)
 *
 * The upstream is ./reference-server.ts (node:http). Every round starts every process afresh,
 * alternates which mode goes first, and kills everything at the end; figures are medians
 * over BENCH_REPEATS rounds (default 3).
 *
 *     npx tsc -p tsconfig.json && node dist/bench/security.js
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FixedRateResult } from './fixed-rate.js';
import { median, mintToken, runFixedRate, startChild, startControlPlane, startSidecar, type Child, type SidecarReady } from './lib.js';
import { runWrk, track, waitForOk, which, type WrkResult } from './proc.js';

const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 3);
const SATURATION_SECONDS = Number(process.env['BENCH_SECURITY_SECONDS'] ?? 5);
const HANDSHAKE_SECONDS = 3;
const HANDSHAKE_CONCURRENCY = 4;
const RATE = 1000;
const RATE_SECONDS = 6;

const here = dirname(fileURLToPath(import.meta.url));
const referenceScript = resolve(here, 'reference-server.js');

type Mode = 'off' | 'strict';

interface ModeFigures {
  readonly mode: Mode;
  readonly wrk: WrkResult;
  readonly fixed: FixedRateResult;
  /** TCP connects/s (off) or full mTLS handshakes/s (strict). */
  readonly connectsPerSec: number;
  /** strict only: handshakes/s resuming a session, and the share actually resumed. */
  readonly resumedPerSec?: number;
  readonly resumedShare?: number;
}


async function startProxy(args: string[], controlPlane: string, mode: Mode, service: string): Promise<{ child: Child; ready: SidecarReady }> {
  return startSidecar(['--mtls', mode, '--service', service, '--control-plane', controlPlane, ...args], { TRELLIS_TOKEN: await mintToken(controlPlane, service) });
}

interface ClientCert { key: string; cert: string; ca: string }

/** A mesh certificate for the handshake clients: openssl key and CSR, signed by the control plane. */
async function clientCertificate(controlPlane: string, dir: string): Promise<ClientCert> {
  const key = join(dir, 'client.key');
  const csr = join(dir, 'client.csr');
  const made = spawnSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr,
    '-subj', '/CN=bench-client', '-addext', 'subjectAltName=URI:spiffe://trellis.local/ns/default/svc/bench-client'], { stdio: 'ignore' });
  if (made.status !== 0) throw new Error('openssl req failed');
  const response = await fetch(`${controlPlane}/v1/ca/sign`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await mintToken(controlPlane, 'bench-client')}` },
    body: JSON.stringify({ csr: readFileSync(csr, 'utf8'), lifetime: '1h' }),
  });
  const signed = await response.json() as { certificate: string; trustBundle: string[] };
  return { key: readFileSync(key, 'utf8'), cert: signed.certificate, ca: signed.trustBundle.join('') };
}

/** New connections/s from HANDSHAKE_CONCURRENCY loops; `open` resolves with whether the session was resumed. */
async function connectionRate(open: () => Promise<boolean>): Promise<{ perSec: number; resumedShare: number }> {
  const deadline = performance.now() + HANDSHAKE_SECONDS * 1000;
  let count = 0;
  let resumed = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      if (await open()) resumed += 1;
      count += 1;
    }
  };
  await Promise.all(Array.from({ length: HANDSHAKE_CONCURRENCY }, loop));
  return { perSec: count / HANDSHAKE_SECONDS, resumedShare: count === 0 ? 0 : resumed / count };
}

function tcpConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise, reject) => {
    const socket = netConnect({ host, port }, () => { socket.destroy(); resolvePromise(false); });
    socket.once('error', reject);
  });
}

function tlsHandshake(host: string, port: number, cert: ClientCert, sessions?: { ticket?: Buffer | undefined }): Promise<boolean> {
  return new Promise((resolvePromise, reject) => {
    const socket = tlsConnect({
      host, port, ...cert, minVersion: 'TLSv1.3', ALPNProtocols: ['http/1.1'],
      checkServerIdentity: () => undefined, // the chain is still verified against the mesh's roots
      ...(sessions?.ticket === undefined ? {} : { session: sessions.ticket }),
    });
    if (sessions !== undefined) socket.on('session', (ticket: Buffer) => { sessions.ticket = ticket; });
    socket.once('secureConnect', () => {
      const reused = socket.isSessionReused();
      // Wait a moment for the server's ticket (sent after the handshake in TLS 1.3) before closing.
      if (sessions === undefined || sessions.ticket !== undefined) { socket.destroy(); resolvePromise(reused); return; }
      socket.once('session', () => { socket.destroy(); resolvePromise(reused); });
    });
    socket.once('error', reject);
  });
}

async function measureMode(mode: Mode, controlPlane: string, upstreamPort: number, wrk: string, cert: ClientCert): Promise<ModeFigures> {
  const server = await startProxy(['--id', `hello-${mode}-1`, '--app-port', String(upstreamPort)], controlPlane, mode, `hello-${mode}`);
  const client = await startProxy(['--upstream', `hello-${mode}:0`], controlPlane, mode, `caller-${mode}`);
  try {
    const url = `http://${client.ready.upstreams[`hello-${mode}`]}/`;
    await waitForOk(url);
    await runWrk(wrk, url, 50, 2); // warm-up
    const wrkResult = await runWrk(wrk, url, 50, SATURATION_SECONDS);
    const fixed = await runFixedRate(url, { rate: RATE, seconds: RATE_SECONDS });
    const [host, port] = (server.ready.inbound ?? '').split(':') as [string, string];
    if (mode === 'off') {
      const tcp = await connectionRate(() => tcpConnect(host, Number(port)));
      return { mode, wrk: wrkResult, fixed, connectsPerSec: tcp.perSec };
    }
    const full = await connectionRate(() => tlsHandshake(host, Number(port), cert));
    const sessions = { ticket: undefined as Buffer | undefined };
    await tlsHandshake(host, Number(port), cert, sessions);
    const resumed = await connectionRate(() => tlsHandshake(host, Number(port), cert, sessions));
    return { mode, wrk: wrkResult, fixed, connectsPerSec: full.perSec, resumedPerSec: resumed.perSec, resumedShare: resumed.resumedShare };
  } finally {
    await client.child.stop();
    await server.child.stop();
  }
}

export interface SecuritySummary {
  readonly rounds: number;
  readonly off: { rps: number; p50: number; p99: number; connects: number };
  readonly strict: { rps: number; p50: number; p99: number; handshakes: number; resumed: number; resumedShare: number };
}

export async function securityBench(): Promise<SecuritySummary> {
  const wrk = which('wrk');
  const figures: ModeFigures[] = [];
  for (let round = 0; round < REPEATS; round += 1) {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-security-'));
    const controlPlane = await startControlPlane(join(dir, 'data'));
    const upstream = await startChild([referenceScript], (line) => (line.startsWith('listening ') ? line.slice(10) : undefined));
    track(upstream.child);
    try {
      const cert = await clientCertificate(controlPlane.url, dir);
      const upstreamPort = Number(new URL(upstream.url).port);
      const order: Mode[] = round % 2 === 0 ? ['off', 'strict'] : ['strict', 'off'];
      for (const mode of order) figures.push(await measureMode(mode, controlPlane.url, upstreamPort, wrk, cert));
      process.stdout.write(`  round ${round + 1}/${REPEATS} done (load average ${loadavg()[0]?.toFixed(2)})\n`);
    } finally {
      await upstream.stop();
      await controlPlane.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const of = (mode: Mode): ModeFigures[] => figures.filter((f) => f.mode === mode);
  const summary: SecuritySummary = {
    rounds: REPEATS,
    off: {
      rps: median(of('off').map((f) => f.wrk.requestsPerSec)),
      p50: median(of('off').map((f) => f.fixed.p50Ms)),
      p99: median(of('off').map((f) => f.fixed.p99Ms)),
      connects: median(of('off').map((f) => f.connectsPerSec)),
    },
    strict: {
      rps: median(of('strict').map((f) => f.wrk.requestsPerSec)),
      p50: median(of('strict').map((f) => f.fixed.p50Ms)),
      p99: median(of('strict').map((f) => f.fixed.p99Ms)),
      handshakes: median(of('strict').map((f) => f.connectsPerSec)),
      resumed: median(of('strict').map((f) => f.resumedPerSec ?? 0)),
      resumedShare: median(of('strict').map((f) => f.resumedShare ?? 0)),
    },
  };
  const errors = (mode: Mode): string => `${of(mode).reduce((n, f) => n + f.wrk.errors, 0)} wrk, ${of(mode).reduce((n, f) => n + f.fixed.errors, 0)} at 1,000/s`;
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
  process.stdout.write([
    `  medians of ${REPEATS} rounds; errors: off ${errors('off')}; strict ${errors('strict')}`,
    '  | sidecar pair | requests/s (wrk -c50) | p50 @1,000/s | p99 @1,000/s | new connections/s (4 clients) |',
    '  |---|---:|---:|---:|---:|',
    `  | mTLS off (plaintext) | ${summary.off.rps.toFixed(0)} | ${summary.off.p50.toFixed(2)} ms | ${summary.off.p99.toFixed(2)} ms | ${summary.off.connects.toFixed(0)} TCP connects |`,
    `  | mTLS strict | ${summary.strict.rps.toFixed(0)} | ${summary.strict.p50.toFixed(2)} ms | ${summary.strict.p99.toFixed(2)} ms | ${summary.strict.handshakes.toFixed(0)} full handshakes, ${summary.strict.resumed.toFixed(0)} resumed (${(summary.strict.resumedShare * 100).toFixed(0)}% reused) |`,
    `  | strict / off | ${ratio(summary.strict.rps, summary.off.rps)} | ${ratio(summary.strict.p50, summary.off.p50)} | ${ratio(summary.strict.p99, summary.off.p99)} | ${ratio(summary.strict.handshakes, summary.off.connects)} (full), ${ratio(summary.strict.resumed, summary.off.connects)} (resumed) |`,
    '',
  ].join('\n'));
  return summary;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await securityBench();
