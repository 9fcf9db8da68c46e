/**
 * `make faults`: the fault suite (docs/operations.md, "Faults"). As root, builds hosts out of
 * network namespaces (./lab.ts), runs the control plane, 3 replicas and a caller on them
 * (./mesh.ts), and runs each scenario (./scenarios.ts) under a steady GET client and a steady
 * POST client; prints the table, and exits 1 when a scenario went over its budget (2 when the
 * suite could not run).
 *
 *   node dist/bench/faults/run.js [--only <text>] [--fault-seconds 8] [--rate 50]
 */
import { parseArgs } from 'node:util';
import { Lab, labUnavailable } from './lab.js';
import { LabMesh } from './mesh.js';
import { runScenario, SCENARIOS, table, type ScenarioResult } from './scenarios.js';

const { values } = parseArgs({ options: { only: { type: 'string' }, 'fault-seconds': { type: 'string', default: '8' }, rate: { type: 'string', default: '50' } } });
const why = labUnavailable();
if (why !== undefined) {
  process.stderr.write(`make faults: ${why}\n`);
  process.exit(2);
}
const rate = Number(values.rate);
const faultMs = Number(values['fault-seconds']) * 1000;
const chosen = SCENARIOS.filter((s) => values.only === undefined || s.name.includes(values.only));

const lab = await Lab.create('f');
let mesh: LabMesh | undefined;
const stop = async (): Promise<void> => {
  await mesh?.stop().catch(() => undefined);
  await lab.destroy();
};
process.once('SIGINT', () => { void stop().then(() => process.exit(130)); });

const results: ScenarioResult[] = [];
try {
  mesh = await LabMesh.start(lab, { getRate: rate, postRate: rate });
  process.stdout.write(`# ${new Date().toISOString()}: 3 replicas + caller on network namespaces; ${rate} GET/s and ${rate} POST/s; each fault lasts ${faultMs / 1000} s; netem: ${await lab.netem() ? 'yes' : 'no'}\n`);
  for (const scenario of chosen) {
    const result = await runScenario(scenario, mesh, { warmMs: 3_000, faultMs, postRate: rate });
    results.push(result);
    process.stdout.write(`# ${scenario.name}: ${JSON.stringify({ offMs: result.offMs, get: result.get, post: result.post, problems: result.problems })}\n`);
  }
} catch (err) {
  process.stderr.write(`make faults: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  await stop();
  process.exit(2);
}
await stop();
process.stdout.write(`\n${table(results)}\n`);
process.exit(results.some((r) => r.problems.length > 0) ? 1 : 0);
