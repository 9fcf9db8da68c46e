/**
 * A small network of hosts for fault tests, as root: each host is a network namespace with
 * one interface (`eth0`, 10.230.0.N/24), plugged by a veth pair into a bridge that lives in a
 * namespace of its own (the "switch"). Nothing is created in the host's own namespace: no
 * interface, address or route of the machine is touched, and the lab's processes reach each
 * other only through the switch.
 *
 * Faults are made the way a network makes them:
 *  - `cut(host)`: every packet in and out of the host's eth0 dropped (nftables, netdev family,
 *    ingress and egress hooks) — a host that vanished: no RST, no ICMP, silence;
 *  - `lose(host, percent)`: a share of those packets dropped at random (nftables numgen);
 *  - `block(host, peer)`: the host's packets to and from one peer dropped (a partition);
 *  - `delay(host, ms)`: tc netem when the kernel has it (`netem` says whether it does);
 *  - `link(host, up)`: the switch's port of the host down or up (a flapping link).
 * Names carry a prefix of the owner's pid; `destroy` kills every process and deletes every
 * namespace (the veth pairs go with them).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SUBNET = '10.230.0';

export interface Host {
  readonly name: string;
  readonly namespace: string;
  /** Its address on the lab's network. */
  readonly address: string;
  /** The switch's end of its veth pair (in the switch namespace). */
  readonly port: string;
}

/** Why a lab cannot be built here, or undefined when it can. */
export function labUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'building hosts out of network namespaces needs root';
  for (const command of ['ip', 'nft']) {
    if (spawnSync(command, ['-V'], { stdio: 'ignore' }).error !== undefined) {
      return `${command} is not installed (apt-get install ${command === 'ip' ? 'iproute2' : 'nftables'})`;
    }
  }
  return undefined;
}

async function sh(command: string, args: readonly string[], input?: string): Promise<string> {
  try {
    if (input === undefined) return (await run(command, [...args], { timeout: 10_000 })).stdout;
    return await new Promise<string>((resolve, reject) => {
      const child = spawn(command, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      child.once('error', reject);
      child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(err.trim() || `exit ${code}`))));
      child.stdin.end(input);
    });
  } catch (err) {
    const stderr = typeof err === 'object' && err !== null && 'stderr' in err ? String(err.stderr).trim() : '';
    throw new Error(`${command} ${args.join(' ')} failed: ${stderr || (err instanceof Error ? err.message : String(err))}`);
  }
}

export class Lab {
  readonly prefix: string;
  readonly switchNamespace: string;
  readonly #hosts = new Map<string, Host>();
  readonly #children = new Set<ChildProcess>();
  #netem: boolean | undefined;

  private constructor(prefix: string) {
    this.prefix = prefix;
    this.switchNamespace = `${prefix}-sw`;
  }

  /** A switch (a bridge in its own namespace). `tag`: part of the names, with our pid. */
  static async create(tag: string): Promise<Lab> {
    const lab = new Lab(`tr${tag}${process.pid}`);
    await lab.#ip(['netns', 'add', lab.switchNamespace]);
    await lab.#ip(['-n', lab.switchNamespace, 'link', 'set', 'lo', 'up']);
    await lab.#ip(['-n', lab.switchNamespace, 'link', 'add', 'br0', 'type', 'bridge']);
    await lab.#ip(['-n', lab.switchNamespace, 'link', 'set', 'br0', 'up']);
    return lab;
  }

  hosts(): readonly Host[] {
    return [...this.#hosts.values()];
  }

  /** A new host `name` at 10.230.0.`octet`, plugged into the switch. */
  async addHost(name: string, octet: number): Promise<Host> {
    const host: Host = { name, namespace: `${this.prefix}-${name}`, address: `${SUBNET}.${octet}`, port: `p${octet}` };
    await this.#ip(['netns', 'add', host.namespace]);
    this.#hosts.set(name, host);
    // Both ends made where they live: the switch's port in the switch, eth0 in the host.
    await this.#ip(['-n', this.switchNamespace, 'link', 'add', host.port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.namespace]);
    await this.#ip(['-n', this.switchNamespace, 'link', 'set', host.port, 'master', 'br0', 'up']);
    await this.#ip(['-n', host.namespace, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
    await this.#ip(['-n', host.namespace, 'link', 'set', 'eth0', 'up']);
    await this.#ip(['-n', host.namespace, 'link', 'set', 'lo', 'up']);
    return host;
  }

  host(name: string): Host {
    const host = this.#hosts.get(name);
    if (host === undefined) throw new Error(`no host ${name} in the lab`);
    return host;
  }

  /** `argv` run on `host` (`ip netns exec` execs it: the child's pid is the program's). */
  spawn(host: Host, argv: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', host.namespace, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** A command on `host`, to completion; its stdout. */
  exec(host: Host, argv: readonly string[]): Promise<string> {
    return sh('ip', ['netns', 'exec', host.namespace, ...argv]);
  }

  /** Drop every packet in and out of `host` (a vanished host: no RST, no ICMP). */
  cut(host: Host): Promise<void> {
    return this.#filter(host, 'drop', '');
  }

  /** Drop `percent` % of the packets in and out of `host`, at random. */
  lose(host: Host, percent: number): Promise<void> {
    return this.#filter(host, 'accept', `numgen random mod 100 < ${Math.round(percent)} drop`);
  }

  /** Drop the packets between `host` and `peer` (at `host`, both ways). */
  block(host: Host, peer: Host): Promise<void> {
    return this.#filter(host, 'accept', `ip saddr ${peer.address} drop`, `ip daddr ${peer.address} drop`);
  }

  /** Whether this kernel has tc's netem (the qdisc that delays packets). */
  async netem(): Promise<boolean> {
    if (this.#netem === undefined) {
      const probe = this.#hosts.values().next().value;
      if (probe === undefined) return false;
      try {
        await this.exec(probe, ['tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']);
        await this.exec(probe, ['tc', 'qdisc', 'del', 'dev', 'lo', 'root']);
        this.#netem = true;
      } catch {
        this.#netem = false;
      }
    }
    return this.#netem;
  }

  /** Delay every packet `host` sends by `ms` (needs netem). */
  async delay(host: Host, ms: number): Promise<void> {
    await this.exec(host, ['tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem', 'delay', `${ms}ms`]);
  }

  /** The switch's port of `host` down (the link is gone: packets to it are dropped) or up. */
  async link(host: Host, up: boolean): Promise<void> {
    await this.#ip(['-n', this.switchNamespace, 'link', 'set', host.port, up ? 'up' : 'down']);
  }

  /** Undo every fault on `host`. */
  async heal(host: Host): Promise<void> {
    await this.exec(host, ['nft', 'flush', 'ruleset']);
    await this.exec(host, ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root']).catch(() => undefined);
    await this.link(host, true);
  }

  /** Kill every process the lab started, delete every namespace. Never throws. */
  async destroy(): Promise<void> {
    const exits = [...this.#children].map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }));
    await Promise.all(exits);
    for (const host of this.#hosts.values()) {
      await this.#pidsIn(host).then((pids) => { for (const pid of pids) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }, () => undefined);
      await sh('ip', ['netns', 'delete', host.namespace]).catch(() => undefined);
    }
    await sh('ip', ['netns', 'delete', this.switchNamespace]).catch(() => undefined);
    this.#hosts.clear();
  }

  /** Pids of the processes in `host`'s namespace. */
  async #pidsIn(host: Host): Promise<number[]> {
    return (await sh('ip', ['netns', 'pids', host.namespace])).split('\n').filter((l) => l !== '').map(Number);
  }

  /** A netdev table on the host's eth0: a chain each way with `policy` and the rule given for it. */
  async #filter(host: Host, policy: 'drop' | 'accept', inRule: string, outRule = inRule): Promise<void> {
    await this.exec(host, ['nft', 'flush', 'ruleset']);
    const script = `table netdev fault {
  chain in { type filter hook ingress device "eth0" priority 0; policy ${policy}; ${inRule}; }
  chain out { type filter hook egress device "eth0" priority 0; policy ${policy}; ${outRule}; }
}
`;
    await sh('ip', ['netns', 'exec', host.namespace, 'nft', '-f', '-'], script);
  }

  #ip(args: readonly string[]): Promise<string> {
    return sh('ip', args);
  }
}
