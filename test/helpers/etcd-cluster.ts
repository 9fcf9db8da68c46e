/**
 * A real 3-member etcd cluster on loopback ports, in a temporary dir, for the tests of one file.
 * Short heartbeat and election timeouts, so a killed leader is replaced in about a second.
 *
 *   const cluster = await startEtcdCluster();   // in before()
 *   cluster.url                                 // etcd://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3
 *   await cluster.killLeader();                 // kill -9 of the current leader
 *   await cluster.stop();                       // in after(): kills every member, removes the dir
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePorts } from '../../src/run/free-port.js';
import { waitFor } from './wait.js';

export const ETCD_BINARY = process.env['TRELLIS_TEST_ETCD'] ?? '/usr/bin/etcd';

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  child: ChildProcess | undefined;
  output: string;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** etcd://host:port,host:port,host:port — what `trellis server --store` takes. */
  readonly url: string;
  /** The member that leads now (asked of the members themselves). */
  leader(): Promise<EtcdMember>;
  /** kill -9 one member. */
  kill(member: EtcdMember): Promise<void>;
  /** kill -9 the leader; resolves once the others elected a new one. Returns the killed member. */
  killLeader(): Promise<EtcdMember>;
  /** Start killed members again (same data dirs), and wait until they serve. */
  restart(...members: EtcdMember[]): Promise<void>;
  stop(): Promise<void>;
}

/** Serve clients over TLS with these PEM files (peers stay plain: loopback only). */
export interface EtcdTls {
  ca: string;
  cert: string;
  key: string;
  /** Require client certificates signed by `ca`. */
  clientCertAuth?: boolean;
}

function spawnMember(dir: string, member: EtcdMember, initialCluster: string, state: 'new' | 'existing', tls: EtcdTls | undefined): void {
  const tlsArgs = tls === undefined ? [] : [
    '--cert-file', tls.cert, '--key-file', tls.key, '--trusted-ca-file', tls.ca,
    ...(tls.clientCertAuth === true ? ['--client-cert-auth'] : []),
  ];
  const child = spawn(ETCD_BINARY, [
    ...tlsArgs,
    '--name', member.name,
    '--data-dir', join(dir, member.name),
    '--listen-client-urls', member.clientUrl,
    '--advertise-client-urls', member.clientUrl,
    '--listen-peer-urls', member.peerUrl,
    '--initial-advertise-peer-urls', member.peerUrl,
    '--initial-cluster', initialCluster,
    '--initial-cluster-state', state,
    '--initial-cluster-token', `trellis-test-${process.pid}`,
    '--heartbeat-interval', '50',
    '--election-timeout', '500',
    '--log-level', 'error',
    '--logger', 'zap',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  member.child = child;
  member.output = '';
  const collect = (d: Buffer): void => { member.output = (member.output + d.toString()).slice(-20_000); };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
}

async function memberStatus(client: Etcd3): Promise<{ leader: string; memberId: string }> {
  const status = await client.maintenance.status({ deadline: Date.now() + 1_000 });
  return { leader: status.leader, memberId: status.header.member_id };
}

function clientFor(member: EtcdMember, tls: EtcdTls | undefined): Etcd3 {
  return new Etcd3({
    hosts: member.clientUrl,
    dialTimeout: 1_000,
    ...(tls === undefined ? {} : {
      credentials: { rootCertificate: readFileSync(tls.ca), certChain: readFileSync(tls.cert), privateKey: readFileSync(tls.key) },
    }),
  });
}

async function waitHealthy(members: readonly EtcdMember[], timeoutMs: number, tls: EtcdTls | undefined): Promise<void> {
  await waitFor(`etcd members ${members.map((m) => m.name).join(', ')} to serve with a leader`, async () => {
    for (const member of members) {
      const client = clientFor(member, tls);
      try {
        const { leader } = await memberStatus(client);
        if (leader === '0') return false;
        await client.get('/health-probe').options({ deadline: Date.now() + 1_000 }).string();
      } finally {
        client.close();
      }
    }
    return true;
  }, { timeoutMs, everyMs: 100 });
}

export async function startEtcdCluster(options: { tls?: EtcdTls } = {}): Promise<EtcdCluster> {
  const { tls } = options;
  const scheme = tls === undefined ? 'http' : 'https';
  const dir = mkdtempSync(join(tmpdir(), 'trellis-etcd-'));
  const ports = await freePorts(6);
  const members: EtcdMember[] = [0, 1, 2].map((i) => ({
    name: `m${i}`,
    clientUrl: `${scheme}://127.0.0.1:${ports[i * 2]}`,
    peerUrl: `http://127.0.0.1:${ports[i * 2 + 1]}`,
    child: undefined,
    output: '',
  }));
  const alive = (m: EtcdMember): boolean => m.child !== undefined && m.child.exitCode === null && m.child.signalCode === null;
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  for (const member of members) spawnMember(dir, member, initialCluster, 'new', tls);
  // Even when the test process dies without its after() (an uncaught error), no member outlives it.
  const killOnExit = (): void => {
    for (const member of members) if (member.child !== undefined && alive(member)) member.child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const kill = async (member: EtcdMember): Promise<void> => {
    const child = member.child;
    if (child === undefined || !alive(member)) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  };
  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    await Promise.all(members.map(kill));
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await waitHealthy(members, 20_000, tls);
  } catch (err) {
    const logs = members.map((m) => `--- ${m.name}\n${m.output}`).join('\n');
    await stop();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }

  const leader = async (): Promise<EtcdMember> => waitFor('an etcd leader', async () => {
    for (const member of members.filter(alive)) {
      const client = clientFor(member, tls);
      try {
        const { leader: leaderId, memberId } = await memberStatus(client);
        if (leaderId !== '0' && leaderId === memberId) return member;
      } catch {
        // not serving: ask the next one
      } finally {
        client.close();
      }
    }
    return undefined;
  }, { timeoutMs: 10_000, everyMs: 50 });

  return {
    members,
    url: `etcd://${members.map((m) => new URL(m.clientUrl).host).join(',')}`,
    leader,
    kill,
    async killLeader() {
      const current = await leader();
      await kill(current);
      const next = await leader();
      if (next === current) throw new Error('the killed member is still reported as leader');
      return current;
    },
    async restart(...restarted) {
      const dead = restarted.filter((m) => !alive(m));
      for (const member of dead) spawnMember(dir, member, initialCluster, 'existing', tls);
      await waitHealthy(dead, 20_000, tls);
    },
    stop,
  };
}
