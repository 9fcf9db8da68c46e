/**
 * What OTLP span export costs on the data path (issue 17): two sidecar pairs (wrk → client
 * sidecar → server sidecar → nginx), both with the default telemetry (metrics, reports), one
 * also exporting every hop's span over OTLP/HTTP protobuf (`telemetry.otlp`) to a receiver in
 * this process that reads and drops each batch. Both pairs are started side by side and
 * measured at saturation at the same time, pinned together to one core when there are two
 * (as bench/observability.ts's "all at once": the machine's drift is common to both), in
 * BENCH_OTLP_WINDOWS windows of BENCH_OTLP_WINDOW_SECONDS. Goal: on ≥ 0.95× off's requests/s.
 * wrk sends no traceparent, so the client sidecar starts every trace and samples it by
 * `telemetry.otlp.sampleRatio` (its default, or BENCH_OTLP_RATIO: 1 exports every request's two hops).
 *
 *     npx tsc -p tsconfig.json && node dist/bench/otlp.js
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startUpstreamAndControlPlane, type Tools } from './dataplane.js';
import { median, sidecarEnv, startSidecar } from './lib.js';
import { cpuSecondsOf, runWrk, waitForOk, which } from './proc.js';

const SECONDS = Number(process.env['BENCH_OTLP_WINDOW_SECONDS'] ?? 3);
const WINDOWS = Number(process.env['BENCH_OTLP_WINDOWS'] ?? 5);
const CONNECTIONS = 50;
/** telemetry.otlp.sampleRatio of the exporting pair (unset: the sidecar's default). wrk sends no traceparent: every trace is one the client sidecar starts. */
/** Which pair starts first (BENCH_OTLP_FIRST=on reverses it: a check that the order itself favours neither). */
const ORDER: ReadonlyArray<'off' | 'on'> = process.env['BENCH_OTLP_FIRST'] === 'on' ? ['on', 'off'] : ['off', 'on'];
const RATIO = process.env['BENCH_OTLP_RATIO'] === undefined ? undefined : Number(process.env['BENCH_OTLP_RATIO']);
const PIN = availableParallelism() >= 2;

function pinTo(cpus: string, pids: readonly number[]): void {
  for (const pid of pids) execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

export async function otlpBench(): Promise<void> {
  const tools: Tools = { haproxy: '', nginx: which('nginx'), wrk: which('wrk') };
  if (PIN) pinTo('0', [process.pid]);
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-otlp-'));
  const stops: Array<() => Promise<void>> = [];
  let batches = 0;
  let bytes = 0;
  const receiver = createServer((req, res) => {
    req.on('data', (c: Buffer) => { bytes += c.length; });
    req.on('end', () => { batches += 1; res.writeHead(200, { 'content-type': 'application/x-protobuf' }); res.end(); });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/traces`;
  try {
    const { upstreamPort, cp } = await startUpstreamAndControlPlane(dir, tools, stops);
    const pairs: Array<{ mode: 'off' | 'on'; url: string; pids: number[] }> = [];
    for (const mode of ORDER) {
      const telemetry = { metrics: true, accessLog: 'off', report: '1s', ...(mode === 'on' ? { otlp: { endpoint, ...(RATIO === undefined ? {} : { sampleRatio: RATIO }) } } : {}) };
      const start = async (config: Record<string, unknown> & { service: string }, file: string) => {
        writeFileSync(file, JSON.stringify(config));
        const started = await startSidecar(['--config', file], await sidecarEnv(cp.url, config.service));
        stops.push(() => started.child.stop());
        return started;
      };
      const server = await start({ service: `hello-${mode}`, id: `hello-${mode}-1`, controlPlane: cp.url, app: { port: upstreamPort }, mtls: { mode: 'off' }, telemetry }, join(dir, `server-${mode}.json`));
      const client = await start({ service: 'bench-client', id: `bench-client-${mode}`, controlPlane: cp.url, upstreams: [{ service: `hello-${mode}`, port: 0 }], mtls: { mode: 'off' }, telemetry }, join(dir, `client-${mode}.json`));
      const url = `http://${client.ready.upstreams[`hello-${mode}`]}/`;
      const pids = [client.child.child.pid, server.child.child.pid].filter((pid): pid is number => pid !== undefined);
      if (PIN) pinTo('1', pids);
      await waitForOk(url);
      await runWrk(tools.wrk, url, CONNECTIONS, 2);
      pairs.push({ mode, url, pids });
    }
    const ratios: number[] = [];
    const rps: Record<'off' | 'on', number[]> = { off: [], on: [] };
    const cpu: Record<'off' | 'on', number[]> = { off: [], on: [] };
    for (let w = 0; w < WINDOWS; w += 1) {
      const before = pairs.map((p) => p.pids.reduce((s, pid) => s + cpuSecondsOf(pid), 0));
      const results = await Promise.all(pairs.map((p) => runWrk(tools.wrk, p.url, CONNECTIONS, SECONDS)));
      pairs.forEach((p, i) => {
        rps[p.mode].push(results[i].requestsPerSec);
        cpu[p.mode].push(((p.pids.reduce((s, pid) => s + cpuSecondsOf(pid), 0) - before[i]) * 1e6) / Math.max(1, results[i].requests));
      });
      const off = results[pairs.findIndex((p) => p.mode === 'off')];
      const on = results[pairs.findIndex((p) => p.mode === 'on')];
      ratios.push(on.requestsPerSec / off.requestsPerSec);
      process.stdout.write(`window ${w + 1}/${WINDOWS}: off ${off.requestsPerSec.toFixed(0)} req/s (${off.errors} errors), on ${on.requestsPerSec.toFixed(0)} req/s (${on.errors} errors); load ${loadavg()[0]?.toFixed(2)}\n`);
    }
    process.stdout.write(`\n| otlp | req/s (median of ${WINDOWS}) | sidecars' CPU µs/request (median) |\n| --- | ---: | ---: |\n`);
    for (const mode of ['off', 'on'] as const) process.stdout.write(`| ${mode} | ${median(rps[mode]).toFixed(0)} | ${median(cpu[mode]).toFixed(0)} |\n`);
    process.stdout.write(`\non/off req/s per window: ${ratios.map((r) => r.toFixed(3)).join(', ')}; median ${median(ratios).toFixed(3)}; goal ≥ 0.95\n`);
    process.stdout.write(`sampleRatio ${RATIO ?? 'default'}, ${ORDER[0]} pair started first; receiver: ${batches} OTLP batches, ${(bytes / 1e6).toFixed(1)} MB\n`);
  } finally {
    for (const stop of stops.reverse()) await stop();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
    if (PIN) pinTo(`0-${availableParallelism() - 1}`, [process.pid]);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await otlpBench();
