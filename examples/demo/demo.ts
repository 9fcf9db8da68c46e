/**
 * `make demo`: the seed's example, end to end. It starts examples/hello/mesh.yaml with the
 * same code as `trellis up` (a control plane, three replicas of a "Hello, World!" server and
 * a caller, each with its sidecar), shows how the caller's traffic spreads over the replicas,
 * kills one replica's app with SIGKILL, shows the traffic moving to the other two (counting
 * every failed request), and shows `up` start the replica again (restart: always) and it rejoin. Then the mesh keeps
 * running for you to explore until Ctrl-C. `--once` ends after the tour (used by the tests).
 */
import { createWriteStream, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { ControlPlaneClient } from '../../src/client/control-plane.js';
import { messageOf } from '../../src/errors.js';
import { loadMeshFile } from '../../src/mesh/load.js';
import { startMesh, type Mesh } from '../../src/mesh/mesh.js';
import { describeMeshEvent } from '../../src/mesh/progress.js';
import { formatSummary, summarize } from '../../src/mesh/summary.js';
import { callerStats, delta, type CallerStats } from './caller-stats.js';

const once = process.argv.includes('--once');
const SERVICE = 'my-service';
const VICTIM = `${SERVICE}-2`;
const WINDOW_MS = 3_000;
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const meshFile = resolve(repo, 'examples/hello/mesh.yaml');
const work = resolve('.trellis/demo');

/** How often the victim was started (its first start, then each restart by the mesh). */
let victimStarts = 0;

const say = (line = ''): void => { process.stdout.write(`${line}\n`); };
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await pause(100);
  }
}

function showWindow(title: string, d: CallerStats): void {
  say(`   ${title}: ${d.sent} requests sent, ${d.ok} answered, ${bold(`${d.failed} failed`)}`);
  const total = Math.max(1, d.ok);
  for (const id of [1, 2, 3].map((n) => `${SERVICE}-${n}`)) {
    const n = d.byInstance[id] ?? 0;
    say(`     ${id}  ${String(n).padStart(4)}  ${'█'.repeat(Math.round((n / total) * 30))}`);
  }
  for (const f of d.failures) say(`     failed at ${f.at}: ${f.reason}`);
}

/** Let the caller run for a window and report what it saw. */
async function measure(statsUrl: string, title: string): Promise<CallerStats> {
  const before = await callerStats(statsUrl);
  await pause(WINDOW_MS);
  const d = delta(before, await callerStats(statsUrl));
  showWindow(title, d);
  return d;
}

async function tour(mesh: Mesh): Promise<void> {
  const caller = mesh.replicas().find((r) => r.spec.service === 'caller');
  if (caller === undefined) throw new Error('the mesh file has no caller');
  const statsUrl = `http://127.0.0.1:${caller.info.appPort}/stats`;
  // Every API call needs a token: the demo's control plane wrote its admin token in its data dir.
  const client = new ControlPlaneClient(mesh.controlPlane.url, readFileSync(resolve(work, 'data', 'admin-token'), 'utf8').trim());

  say(bold(`2. The caller calls ${SERVICE} through its sidecar (round-robin over the healthy replicas):`));
  await waitUntil('every replica to answer the caller', async () => {
    const s = await callerStats(statsUrl);
    return [1, 2, 3].every((n) => (s.byInstance[`${SERVICE}-${n}`] ?? 0) > 0) ? s : undefined;
  });
  await measure(statsUrl, `over ${WINDOW_MS / 1000} s`);
  say();

  const victim = mesh.replicas().find((r) => r.spec.id === VICTIM);
  if (victim === undefined) throw new Error(`no replica ${VICTIM}`);
  say(bold(`3. kill -9 ${VICTIM}'s app (pid ${victim.info.appPid}) while the caller keeps sending:`));
  const before = await callerStats(statsUrl);
  process.kill(victim.info.appPid, 'SIGKILL');
  // Taken once the signal is sent, not before: on a loaded machine this process may be descheduled
  // between the two, and a request the caller sent in that gap, answered by the app before it died,
  // would count as "sent after the kill" (the CI failure of the demo test's kill window).
  const killedAt = Date.now();
  // Out of the healthy list: its sidecar saw the app die and deregistered it; trellis up then shows
  // it as restarting (critical) until the new run registers.
  await waitUntil(`${VICTIM} to leave the healthy list`, async () => {
    const { instances } = await client.instances(SERVICE, true);
    return instances.some((i) => i.id === VICTIM) ? undefined : true;
  });
  say(`   ${VICTIM} left the healthy list ${Date.now() - killedAt} ms after the kill (its sidecar saw the app die and deregistered it; trellis up shows it restarting)`);
  const { instances } = await client.instances(SERVICE, true);
  say(`   healthy instances now: ${instances.map((i) => i.id).join(', ')}`);
  // Until the mesh starts it again (after its 1 s back-off): the replacement cannot serve before that.
  await waitUntil(`trellis up to start ${VICTIM} again`, async () => (victimStarts >= 2 ? true : undefined));
  // Failures count from just before the kill; answers per replica count only the requests sent
  // after it (a request my-service-2 answered a moment before its death is not a request after it).
  const after = await callerStats(statsUrl, killedAt);
  showWindow(`from the kill until trellis up starts it again (${((Date.now() - killedAt) / 1000).toFixed(1)} s)`,
    { ...delta(before, after), byInstance: after.sentAfter ?? {} });
  say('     (answers per replica: the requests sent after the kill)');
  say();

  say(bold(`4. trellis up starts ${VICTIM} again by itself (restart: always, as a Deployment) and it rejoins:`));
  await waitUntil(`${VICTIM} to answer the caller again`, async () => {
    const before = await callerStats(statsUrl);
    await pause(200);
    const d = delta(before, await callerStats(statsUrl));
    return (d.byInstance[VICTIM] ?? 0) > 0 ? d : undefined;
  });
  say(`   ${VICTIM} is serving again ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`);
  await measure(statsUrl, `over ${WINDOW_MS / 1000} s`);
  const total = await callerStats(statsUrl);
  say(`   since the start: ${total.ok} answered, ${total.failed} failed`);
  say();
}

function instructions(mesh: Mesh): void {
  const dns = mesh.controlPlane.dns;
  const exposed = mesh.exposed.get(SERVICE);
  const replica = (id: string) => mesh.replicas().find((r) => r.spec.id === id);
  const caller = replica('caller-1');
  const lines: Array<[string, string]> = [
    ...(exposed === undefined ? [] : [[`curl http://${exposed}/`, 'my-service through its entry point: answers rotate'] as [string, string]]),
    ...(caller === undefined ? [] : [[`curl http://127.0.0.1:${caller.info.appPort}/stats`, "the caller's counts per replica and its failures"] as [string, string]]),
    [`export TRELLIS_CONTROL_PLANE=${mesh.controlPlane.url}`, ''],
    [`export TRELLIS_DATA_DIR=${relative(process.cwd(), resolve(work, 'data')) || '.'}`, 'where the CLI finds the admin token (every API call needs a token)'],
    ['npx trellis stat', 'success rate, req/s and latency per service; also edges, top, check'],
    ['npx trellis dashboard', 'the web dashboard: a URL with a read-only token in it'],
    [`npx trellis instances ${SERVICE}`, 'the registry: one instance per sidecar'],
    [`npx trellis watch --service ${SERVICE}`, 'changes as they happen'],
    ...(dns === undefined ? [] : [[`dig @${dns.host} -p ${dns.port} ${SERVICE}.service.trellis SRV`, 'DNS: healthy instances only'] as [string, string]]),
    [`kill -9 ${replica(`${SERVICE}-1`)?.info.appPid ?? '<pid>'}`, `${SERVICE}-1's app: then look at the caller's counts again`],
    ['npx trellis ca status', 'the mesh CA: roots, certificates issued, requests refused'],
    ...(replica(`${SERVICE}-1`) === undefined ? [] : [[`curl -k https://${replica(`${SERVICE}-1`)?.info.inbound ?? ''}/`, 'a sidecar\'s inbound port without a mesh certificate: refused'] as [string, string]]),
  ];
  const width = Math.max(...lines.map(([command]) => command.length));
  say(bold('The mesh keeps running. In another terminal, try:'));
  for (const [command, comment] of lines) say(`  ${comment === '' ? command : `${command.padEnd(width)}   # ${comment}`}`);
  say(`Replica output: ${resolve(work, 'mesh.log')}. Press Ctrl-C to stop.`);
}

async function main(): Promise<void> {
  say(bold('Trellis demo — the seed\'s example: three "Hello, World!" replicas behind sidecars, and a caller'));
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const log = createWriteStream(resolve(work, 'mesh.log'));
  say(bold(`1. Starting ${meshFile.slice(repo.length + 1)} (what \`trellis up\` does):`));
  const loaded = await loadMeshFile(meshFile);
  const mesh = await startMesh({
    mesh: loaded,
    file: meshFile,
    baseDir: dirname(meshFile),
    dataDir: resolve(work, 'data'),
    busyPorts: 'any',
    logger: pino({ level: 'info' }, pino.destination({ dest: resolve(work, 'control-plane.log'), sync: true })),
    replicaOutput: { stdout: log, stderr: log },
    onEvent: (event) => {
      if (event.kind === 'starting' && `${event.service}-${event.index}` === VICTIM) victimStarts += 1;
      say(`   ${describeMeshEvent(event)}`);
    },
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= mesh.stop());
  try {
    say();
    for (const line of formatSummary(summarize(mesh)).split('\n')) say(line === '' ? '' : `   ${line}`);
    const ca = await mesh.controlPlane.ca.status();
    say(`   mutual TLS: ${loaded.mtls} between every sidecar; identities spiffe://${ca.trustDomain}/ns/default/svc/<service>, certificates from root ${ca.roots[0]?.id ?? '?'}`);
    say();
    await tour(mesh);
  } catch (err) {
    await stop();
    throw err;
  }
  if (!once) {
    instructions(mesh);
    await new Promise<void>((r) => { process.once('SIGINT', r); process.once('SIGTERM', r); });
    say();
  }
  await stop();
  say('demo finished');
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${messageOf(err)}\n`);
  process.exit(1);
});
