/**
 * `make demo`: the control plane on the embedded store, three replicas of a "Hello, World!"
 * server registering and heartbeating, a watcher printing every change, one replica going
 * silent (critical within its TTL) and coming back. Then the mesh stays up for you to explore
 * until Ctrl-C. `--once` ends after the tour (used by the test suite).
 */
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { ControlPlaneClient } from '../../src/cli/client.js';
import { formatTable } from '../../src/cli/output.js';
import { startControlPlane, type ControlPlane } from '../../src/control-plane/server.js';
import { messageOf } from '../../src/errors.js';
import type { RegistryEvent } from '../../src/registry/types.js';

const once = process.argv.includes('--once');
const SERVICE = 'my-service';
const TTL_MS = 2_000;
const dataDir = resolve('.trellis/demo');

const say = (line = ''): void => { process.stdout.write(`${line}\n`); };
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

async function startCp(): Promise<ControlPlane> {
  rmSync(dataDir, { recursive: true, force: true });
  const logger = pino({ level: 'info' }, pino.destination({ dest: resolve('.trellis/demo-control-plane.log'), mkdir: true, sync: true }));
  // The usual ports if they are free, otherwise any free port.
  for (const [api, dns] of [[7700, 7753], [0, 0]] as const) {
    try {
      return await startControlPlane({ dataDir, listen: { host: '127.0.0.1', port: api }, dns: { host: '127.0.0.1', port: dns }, logger });
    } catch (err) {
      if (api === 0) throw err;
    }
  }
  throw new Error('unreachable');
}

interface Replica { id: string; server: Server; port: number; beating: boolean; timer?: NodeJS.Timeout }

async function startReplica(client: ControlPlaneClient, n: number): Promise<Replica> {
  const id = `${SERVICE}-${n}`;
  const server = createServer((req, res) => {
    if (req.url === '/healthz') { res.end('ok'); return; }
    res.setHeader('content-type', 'text/plain');
    res.end(`Hello, World! from ${id}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const replica: Replica = { id, server, port, beating: true };
  await client.register(SERVICE, id, {
    address: '127.0.0.1', port, ttl: TTL_MS, deregisterCriticalAfter: '5m',
    metadata: { version: 'v1', zone: n === 3 ? 'b' : 'a' },
    checks: [{ type: 'http', path: '/healthz', interval: '1s', initialStatus: 'passing' }],
  });
  replica.timer = setInterval(() => {
    if (replica.beating) client.heartbeat(SERVICE, id).catch(() => undefined);
  }, TTL_MS / 4);
  return replica;
}

async function table(client: ControlPlaneClient): Promise<string> {
  const { instances } = await client.instances(SERVICE);
  return formatTable(['ID', 'ADDRESS', 'STATUS', 'CHECKS'], instances.map((i) => [
    i.id, `${i.address}:${i.port}`, i.status, i.checks.map((c) => `${c.name}:${c.status}`).join(' '),
  ]));
}

function describe(e: RegistryEvent): string {
  const change = e.statusChanged ? `${e.previousStatus} → ${e.instance.status}` : e.instance.status;
  return `  [watch] rev ${e.revision}  ${e.type.padEnd(12)} ${e.service}/${e.id}  ${change}`;
}

async function main(): Promise<void> {
  say(bold('Trellis demo — service discovery and failure detection on an embedded key-value store'));
  const cp = await startCp();
  const client = new ControlPlaneClient(cp.url);
  say(`control plane: ${cp.url}   DNS: ${cp.dns ? `${cp.dns.host}:${cp.dns.port}` : 'off'}   data: ${dataDir}`);
  say('');

  const watchAbort = new AbortController();
  let onEvent: ((e: RegistryEvent) => void) | undefined;
  const watching = client.watch({ service: SERVICE, after: (await client.services()).revision, signal: watchAbort.signal }, (e) => {
    say(describe(e));
    onEvent?.(e);
  }).catch((err: unknown) => say(`watch ended: ${messageOf(err)}`));
  const until = (what: (e: RegistryEvent) => boolean): Promise<RegistryEvent> => new Promise((r) => {
    onEvent = (e) => { if (what(e)) { onEvent = undefined; r(e); } };
  });

  say(bold(`1. Three replicas of "${SERVICE}" register (heartbeat TTL ${TTL_MS / 1000}s, HTTP check on /healthz):`));
  const replicas: Replica[] = [];
  let seen = 0;
  const allRegistered = until((e) => e.type === 'registered' && (seen += 1) === 3);
  for (const n of [1, 2, 3]) replicas.push(await startReplica(client, n));
  await allRegistered;
  say('');
  say(await table(client));
  say('');

  const victim = replicas[1]!;
  say(bold(`2. ${victim.id} stops heartbeating (a hung process). Within its TTL it turns critical:`));
  const stoppedAt = Date.now();
  victim.beating = false;
  await until((e) => e.id === victim.id && e.statusChanged && e.instance.status === 'critical');
  say(`   detected after ${((Date.now() - stoppedAt) / 1000).toFixed(1)}s; healthy instances now:`);
  const healthy = (await client.instances(SERVICE, true)).instances.map((i) => i.id);
  say(`   ${healthy.join(', ')}`);
  say('');

  say(bold(`3. ${victim.id} heartbeats again and rejoins:`));
  const back = until((e) => e.id === victim.id && e.statusChanged && e.instance.status === 'passing');
  victim.beating = true;
  await client.heartbeat(SERVICE, victim.id);
  await back;
  say('');
  say(await table(client));
  say('');

  const shutdown = async (): Promise<void> => {
    watchAbort.abort();
    await watching;
    for (const r of replicas) {
      clearInterval(r.timer);
      await client.deregister(SERVICE, r.id).catch(() => undefined);
      r.server.close();
    }
    await cp.close();
  };

  if (once) {
    await shutdown();
    say('demo finished');
    return;
  }
  const dnsPort = cp.dns?.port ?? 7753;
  say(bold('The mesh keeps running. In another terminal, try:'));
  say(`  export TRELLIS_CONTROL_PLANE=${cp.url}`);
  say('  npx trellis services');
  say(`  npx trellis instances ${SERVICE}`);
  say(`  npx trellis watch --service ${SERVICE}`);
  say(`  dig @127.0.0.1 -p ${dnsPort} ${SERVICE}.service.trellis SRV`);
  say(`  curl ${cp.url}/v1/services/${SERVICE}/instances?healthy=true`);
  say(`  npx trellis register ${SERVICE} --id extra --port 9999 --ttl 5s   # then watch it expire`);
  say('Press Ctrl-C to stop.');
  await new Promise<void>((r) => { process.once('SIGINT', r); process.once('SIGTERM', r); });
  say('\nstopping…');
  await shutdown();
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${messageOf(err)}\n`);
  process.exit(1);
});
