/**
 * The control plane on etcd vs on the embedded store (issue 6), in the same run: registrations/s
 * through the HTTP API and watch fan-out (one change → 1,000 watchers, p50/p99). The reference
 * is the embedded SQLite store; etcd is a real 3-member cluster on loopback (fsync on, the
 * test helper's short election timeouts), started fresh each round.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { startEtcdCluster } from '../test/helpers/etcd-cluster.js';
import { median, startControlPlane, type Child } from './lib.js';
import { registrations, watchFanout, type FanoutFigures } from './registry.js';

const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 3);
const REGISTRATIONS = 5_000;

interface BackendFigures extends FanoutFigures { registrationsPerSec: number }

async function measure(cp: Child, round: number): Promise<BackendFigures> {
  const pool = new Pool(cp.url, { connections: 64 });
  try {
    await registrations(pool, cp.url, 500, 'warm'); // warm-up, not counted
    const registrationsPerSec = await registrations(pool, cp.url, REGISTRATIONS);
    return { registrationsPerSec, ...(await watchFanout(cp.url, pool, round)) };
  } finally {
    await pool.close();
  }
}

async function once(round: number): Promise<{ embedded: BackendFigures; etcd: BackendFigures }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'trellis-bench-etcd-'));
  const cluster = await startEtcdCluster();
  try {
    const embeddedCp = await startControlPlane(join(dataDir, 'embedded'));
    const embedded = await measure(embeddedCp, round).finally(() => embeddedCp.stop());
    const etcdCp = await startControlPlane(join(dataDir, 'etcd'), ['--store', cluster.url]);
    const etcd = await measure(etcdCp, round).finally(() => etcdCp.stop());
    return { embedded, etcd };
  } finally {
    await cluster.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function registryEtcdBench(): Promise<void> {
  const rounds: Array<{ embedded: BackendFigures; etcd: BackendFigures }> = [];
  for (let r = 0; r < REPEATS; r += 1) {
    const f = await once(r);
    rounds.push(f);
    const round = (b: BackendFigures): string => `${b.registrationsPerSec.toFixed(0)} reg/s, fan-out p99 ${b.fanoutP99Ms.toFixed(1)} ms`;
    process.stdout.write(`round ${r + 1}/${REPEATS}: embedded ${round(f.embedded)}; etcd ${round(f.etcd)}\n`);
  }
  const m = (backend: 'embedded' | 'etcd', k: keyof BackendFigures): number => median(rounds.map((f) => f[backend][k]));
  const row = (name: string, k: keyof BackendFigures, digits: number): string =>
    `| ${name} | ${m('embedded', k).toFixed(digits)} | ${m('etcd', k).toFixed(digits)} | ${(m('etcd', k) / m('embedded', k)).toFixed(2)} |`;
  process.stdout.write(`\nmedians of ${REPEATS} rounds\n| measure | embedded (reference) | etcd, 3 members | etcd / embedded |\n| --- | --- | --- | --- |\n${[
    row('registrations/s (HTTP API, 64 in flight)', 'registrationsPerSec', 0),
    row('watch fan-out to 1,000 watchers, p50 ms', 'fanoutP50Ms', 1),
    row('watch fan-out to 1,000 watchers, p99 ms', 'fanoutP99Ms', 1),
    row('watch fan-out to 1,000 watchers, max ms', 'fanoutMaxMs', 1),
  ].join('\n')}\n`);
}

if (process.argv[1]?.endsWith('registry-etcd.js')) await registryEtcdBench();
