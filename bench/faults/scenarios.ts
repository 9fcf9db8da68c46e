/**
 * The fault scenarios, how one is run on a {@link LabMesh}, and what is measured: for the
 * requests sent while the fault lasts, per method, how many were sent and failed, their p99
 * and the most in flight at once; and the time from the fault until the bad instance left the
 * caller's table (ejected, or removed by the control plane), after which no request went to it.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile } from '../lib.js';
import type { Lab } from './lab.js';
import type { LabMesh, ProbeLine, Replica } from './mesh.js';

type Request = Extract<ProbeLine, { k: 'r' }>;
type TableChange = Extract<ProbeLine, { k: 's' }>;

export interface FaultContext {
  readonly lab: Lab;
  readonly mesh: LabMesh;
  /** The replica the fault is about (scenarios without one ignore it). */
  readonly victim: Replica;
}

export interface Budget {
  readonly getFailed: number;
  /** Failed POSTs allowed, in seconds of the POST rate (1: one second's worth). */
  readonly postFailedSeconds: number;
  /** The bad instance out of the caller's table within this long (undefined: it need not leave). */
  readonly offMs?: number;
}

export interface Scenario {
  readonly name: string;
  /** What it does to the network or the processes (the docs' table). */
  readonly does: string;
  /** Whether one instance is the bad one (its time out of the table is measured). */
  readonly hasVictim: boolean;
  readonly budget: Budget;
  inject(ctx: FaultContext): Promise<void>;
  /** Undo the fault (the runner also heals every host and restarts dead replicas afterwards). */
  heal(ctx: FaultContext): Promise<void>;
}

const FLAP_MS = 1_000;

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'replica host partitioned',
    does: "every packet in and out of one replica's host dropped (nftables on its eth0): no RST, no ICMP",
    hasVictim: true,
    budget: { getFailed: 0, postFailedSeconds: 1, offMs: 2_000 },
    inject: ({ lab, victim }) => lab.cut(victim.host),
    heal: ({ lab, victim }) => lab.heal(victim.host),
  },
  {
    name: 'caller ↔ control plane partitioned',
    does: "the caller's host drops every packet to and from the control plane's host; replicas stay reachable",
    hasVictim: false,
    budget: { getFailed: 0, postFailedSeconds: 0 },
    inject: ({ lab }) => lab.block(lab.host('caller'), lab.host('cp')),
    heal: ({ lab }) => lab.heal(lab.host('caller')),
  },
  {
    name: '200 ms latency on a replica',
    does: "one replica answers 200 ms late (tc netem on its host's eth0; without netem in the kernel, its app waits 200 ms)",
    hasVictim: false,
    budget: { getFailed: 0, postFailedSeconds: 0 },
    inject: async ({ lab, victim }) => {
      if (await lab.netem()) await lab.delay(victim.host, 200);
      else victim.app.child.kill('SIGUSR2');
    },
    heal: async ({ lab, victim }) => {
      if (await lab.netem()) await lab.heal(victim.host);
      else victim.app.child.kill('SIGUSR2');
    },
  },
  {
    name: '5% packet loss on a replica',
    does: "5% of the packets in and out of one replica's host dropped at random (nftables numgen)",
    hasVictim: false,
    budget: { getFailed: 0, postFailedSeconds: 1 },
    inject: ({ lab, victim }) => lab.lose(victim.host, 5),
    heal: ({ lab, victim }) => lab.heal(victim.host),
  },
  {
    name: 'flapping link',
    does: `the switch port of one replica's host goes down and up every ${FLAP_MS / 1000} s (ip link): packets to it vanish while it is down`,
    hasVictim: true,
    budget: { getFailed: 0, postFailedSeconds: 1, offMs: 2_000 },
    inject: ({ lab, victim }) => {
      let up = false;
      flapping = setInterval(() => { void lab.link(victim.host, up).catch(() => undefined); up = !up; }, FLAP_MS);
      return lab.link(victim.host, false);
    },
    heal: async ({ lab, victim }) => {
      clearInterval(flapping);
      await lab.link(victim.host, true);
    },
  },
  {
    name: 'app SIGSTOPped',
    does: "one replica's app is stopped (SIGSTOP): its sidecar accepts requests, the app never answers",
    hasVictim: true,
    budget: { getFailed: 0, postFailedSeconds: 1, offMs: 2_000 },
    inject: async ({ victim }) => { victim.app.child.kill('SIGSTOP'); },
    heal: async ({ victim }) => { victim.app.child.kill('SIGCONT'); },
  },
  {
    name: "kill -9 of an app",
    does: "one replica's app killed with SIGKILL, its sidecar left running (it answers 503 APP_UNAVAILABLE until its check sees the app gone)",
    hasVictim: true,
    budget: { getFailed: 0, postFailedSeconds: 1, offMs: 2_000 },
    inject: async ({ victim }) => { victim.app.child.kill('SIGKILL'); },
    heal: async () => undefined,
  },
  {
    name: "kill -9 of a host's processes",
    does: "the app and the sidecar of one replica killed with SIGKILL (the host stays up: its kernel answers RST)",
    hasVictim: true,
    budget: { getFailed: 0, postFailedSeconds: 1, offMs: 2_000 },
    inject: async ({ victim }) => {
      victim.app.child.kill('SIGKILL');
      victim.sidecar.child.kill('SIGKILL');
    },
    heal: async () => undefined,
  },
];

let flapping: NodeJS.Timeout | undefined;

export interface MethodResult {
  readonly sent: number;
  readonly failed: number;
  readonly p99Ms: number;
  readonly maxInFlight: number;
  /** The slowest request sent while the fault lasted. */
  readonly maxMs: number;
  /** Failures by status and trellis-error, e.g. "504 TRELLIS_ERR_UPSTREAM_TIMEOUT": 3. */
  readonly failures: Readonly<Record<string, number>>;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly get: MethodResult;
  readonly post: MethodResult;
  /** From the fault to the bad instance leaving the caller's table; undefined: it never left (or no bad instance). */
  readonly offMs: number | undefined;
  /** Requests sent after it left (+100 ms) that were slow (> 2 s: they waited for it), failed, or answered by it: should be none. */
  readonly hitAfterOff: number;
  readonly problems: readonly string[];
}

function methodResult(requests: readonly Request[]): MethodResult {
  const failed = requests.filter((r) => r.s !== 200);
  const failures: Record<string, number> = {};
  for (const r of failed) {
    const key = `${r.s} ${r.e}`.trim();
    failures[key] = (failures[key] ?? 0) + 1;
  }
  const latencies = requests.map((r) => r.ms).sort((a, b) => a - b);
  return {
    sent: requests.length, failed: failed.length, failures,
    p99Ms: requests.length === 0 ? 0 : percentile(latencies, 99),
    maxMs: latencies.at(-1) ?? 0,
    maxInFlight: Math.max(0, ...requests.map((r) => r.q + 1)),
  };
}

/** The measures of one run, from the probe's lines, the fault's start and end, against the budget. */
export function measure(scenario: Scenario, lines: readonly ProbeLine[], victimId: string, faultAt: number, healAt: number, postRate: number): ScenarioResult {
  const during = lines.filter((l): l is Request => l.k === 'r' && l.t >= faultAt && l.t < healAt);
  const get = methodResult(during.filter((r) => r.m === 'GET'));
  const post = methodResult(during.filter((r) => r.m === 'POST'));
  let offMs: number | undefined;
  if (scenario.hasVictim) {
    const off = lines.find((l): l is TableChange => l.k === 's' && l.t >= faultAt && !l.p.includes(victimId));
    if (off !== undefined) offMs = off.t - faultAt;
  }
  const hitAfterOff = offMs === undefined ? 0 : during.filter((r) => r.t > faultAt + offMs + 100 && (r.s !== 200 || r.ms > 2_000 || r.by === victimId)).length;
  const { budget } = scenario;
  const problems: string[] = [];
  if (get.failed > budget.getFailed) problems.push(`${get.failed} GETs failed (budget ${budget.getFailed})`);
  const postAllowed = Math.floor(budget.postFailedSeconds * postRate);
  if (post.failed > postAllowed) problems.push(`${post.failed} POSTs failed (budget ${postAllowed}: ${budget.postFailedSeconds} s of POSTs)`);
  if (budget.offMs !== undefined && (offMs === undefined || offMs > budget.offMs)) {
    problems.push(`the bad instance left the table ${offMs === undefined ? 'never' : `after ${offMs} ms`} (budget ${budget.offMs} ms)`);
  }
  if (hitAfterOff > 0) problems.push(`${hitAfterOff} requests sent after it left were slow or failed`);
  return { scenario: scenario.name, get, post, offMs, hitAfterOff, problems };
}

export interface RunOptions {
  /** Steady traffic before the fault. */
  readonly warmMs: number;
  /** How long the fault lasts. */
  readonly faultMs: number;
  readonly postRate: number;
  readonly victim?: number;
}

/** One scenario on a healthy mesh: a fresh caller, traffic, the fault, its healing, the measures. */
export async function runScenario(scenario: Scenario, mesh: LabMesh, options: RunOptions): Promise<ScenarioResult> {
  const { lab } = mesh;
  const victim = mesh.replicas[options.victim ?? 1];
  if (victim === undefined) throw new Error('the mesh has no replica to fault');
  const ctx: FaultContext = { lab, mesh, victim };
  const caller = await mesh.startCaller();
  // Traffic before the fault is load, not synchronisation: the run lasts this long by design.
  await new Promise((resolve) => setTimeout(resolve, options.warmMs));
  const faultAt = Date.now();
  await scenario.inject(ctx);
  await new Promise((resolve) => setTimeout(resolve, options.faultMs));
  const healAt = Date.now();
  await scenario.heal(ctx);
  const lines = await caller.stop();
  mesh.caller = undefined;
  // FAULTS_LOG=1: the caller sidecar's log of the run (its outlier events, its warnings), on stderr.
  if (process.env['FAULTS_LOG'] === '1') writeFileSync(join(tmpdir(), `faults-${scenario.name.replace(/[^a-z0-9]+/gi, '-')}.jsonl`), `${caller.probe.lines.join('\n')}\n`);
  if (process.env['FAULTS_LOG'] === '1') process.stderr.write(`${caller.sidecar.lines.filter((l) => !l.includes('"level":30,"time"') || l.includes('outlier')).join('\n')}\n`);
  await restore(mesh);
  return measure(scenario, lines, victim.id, faultAt, healAt, options.postRate);
}

/** Every host healed, every dead replica started again. */
export async function restore(mesh: LabMesh): Promise<void> {
  for (const host of mesh.lab.hosts()) await mesh.lab.heal(host);
  for (const replica of mesh.replicas) {
    const dead = [replica.app.child, replica.sidecar.child].some((c) => c.exitCode !== null || c.signalCode !== null);
    if (dead) await mesh.restart(replica);
    else replica.app.child.kill('SIGCONT');
  }
}

const cell = (m: MethodResult): string => `${m.sent} / ${m.failed}`;

/** The results as a Markdown table. */
export function table(results: readonly ScenarioResult[]): string {
  const rows = [
    '| scenario | GET sent / failed | POST sent / failed | bad instance out after | GET p99 | POST p99 | peak in flight | verdict |',
    '|---|---|---|---|---|---|---|---|',
    ...results.map((r) => `| ${r.scenario} | ${cell(r.get)} | ${cell(r.post)} | ${r.offMs === undefined ? '—' : `${r.offMs} ms`} | ${r.get.p99Ms} ms | ${r.post.p99Ms} ms | ${Math.max(r.get.maxInFlight, r.post.maxInFlight)} | ${r.problems.length === 0 ? 'within budget' : `OVER: ${r.problems.join('; ')}`} |`),
  ];
  return rows.join('\n');
}
