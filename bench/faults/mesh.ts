/**
 * A mesh on a {@link Lab}: the control plane on host `cp`, three replicas of `svc` (the lab's
 * app and its `trellis proxy`) on hosts `r1`..`r3`, and a caller — an outbound-only sidecar and
 * the probe (./probe.ts: steady GETs and POSTs, a watch of the sidecar's table) — on host
 * `caller`. Every process runs with the defaults a user gets (mutual TLS, the default upstream
 * policy), as `trellis proxy` with join tokens minted through the CLI.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SIDECAR_V8_FLAGS } from '../../src/proxy/v8-flags.js';
import type { Host, Lab } from './lab.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(here, '../../src/cli/main.js');
const APP = resolve(here, 'app.js');
const PROBE = resolve(here, 'probe.js');

/** A probe line (./probe.ts). */
export type ProbeLine =
  | { k: 'r'; m: 'GET' | 'POST'; t: number; ms: number; s: number; by: string; e: string; q: number }
  | { k: 's'; t: number; p: string[]; x: string[] }
  | { k: 'end' };

/** A child whose stdout lines are kept and can be waited for. */
export interface Proc {
  readonly child: ChildProcess;
  readonly lines: string[];
  /** The first line (so far or to come) that `match` accepts; rejects at the deadline or exit. */
  line(match: (line: string) => boolean, timeoutMs: number): Promise<string>;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

function watch(child: ChildProcess, what: string): Proc {
  const lines: string[] = [];
  let stderr = '';
  const waiters = new Set<(line: string | undefined) => void>();
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-8_000); });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const waiter of waiters) waiter(line);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => { for (const waiter of waiters) waiter(undefined); r(); }));
  const output = (): string => `${lines.slice(-20).join('\n')}\n${stderr}`;
  return {
    child, lines, output,
    line: (match, timeoutMs) => new Promise<string>((resolvePromise, reject) => {
      const found = lines.find(match);
      if (found !== undefined) { resolvePromise(found); return; }
      const timer = setTimeout(() => { waiters.delete(waiter); reject(new Error(`${what}: no expected line in ${timeoutMs} ms:\n${output()}`)); }, timeoutMs);
      const waiter = (line: string | undefined): void => {
        if (line === undefined) { clearTimeout(timer); waiters.delete(waiter); reject(new Error(`${what} exited (${child.exitCode ?? child.signalCode}):\n${output()}`)); return; }
        if (!match(line)) return;
        clearTimeout(timer);
        waiters.delete(waiter);
        resolvePromise(line);
      };
      if (child.exitCode !== null || child.signalCode !== null) { waiter(undefined); return; }
      waiters.add(waiter);
    }),
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGCONT');
      child.kill(signal);
      await exited;
    },
  };
}

function jsonField(line: string, field: string): string | undefined {
  try {
    const value = (JSON.parse(line) as Record<string, unknown>)[field];
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

const isReady = (msg: string) => (line: string): boolean => jsonField(line, 'msg') === msg;

export interface Replica {
  readonly id: string;
  readonly host: Host;
  app: Proc;
  sidecar: Proc;
}

export interface Caller {
  readonly sidecar: Proc;
  readonly probe: Proc;
  /** The probe's lines so far, parsed. */
  lines(): ProbeLine[];
  /** Stop the probe (it waits for its requests to end) and the sidecar; every probe line. */
  stop(): Promise<ProbeLine[]>;
}

export interface MeshOptions {
  readonly getRate: number;
  readonly postRate: number;
}

const START_MS = 60_000;

export class LabMesh {
  readonly lab: Lab;
  readonly replicas: Replica[] = [];
  readonly #options: MeshOptions;
  readonly #dataDir = mkdtempSync(join(tmpdir(), 'trellis-faults-'));
  #controlPlane = '';
  #tokens = new Map<string, string>();
  caller: Caller | undefined;

  private constructor(lab: Lab, options: MeshOptions) {
    this.lab = lab;
    this.#options = options;
  }

  get controlPlane(): string {
    return this.#controlPlane;
  }

  /** Hosts cp, r1..r3 and caller on `lab`; the control plane and the replicas running (not the caller). */
  static async start(lab: Lab, options: MeshOptions): Promise<LabMesh> {
    const mesh = new LabMesh(lab, options);
    const cp = await lab.addHost('cp', 2);
    for (let i = 1; i <= 3; i++) await lab.addHost(`r${i}`, 10 + i);
    await lab.addHost('caller', 21);
    const server = watch(lab.spawn(cp, [process.execPath, CLI, 'server', '--data-dir', mesh.#dataDir, '--listen', `${cp.address}:0`, '--dns', 'off', '--log-level', 'info']), 'trellis server');
    const ready = await server.line(isReady('control plane ready'), START_MS);
    mesh.#controlPlane = jsonField(ready, 'api') ?? '';
    for (const service of ['svc', 'caller']) mesh.#tokens.set(service, await mesh.#mint(service));
    await Promise.all([1, 2, 3].map(async (i) => { mesh.replicas.push(await mesh.#startReplica(`svc-${i}`, lab.host(`r${i}`))); }));
    mesh.replicas.sort((a, b) => a.id.localeCompare(b.id));
    return mesh;
  }

  async #mint(service: string): Promise<string> {
    const adminToken = readFileSync(join(this.#dataDir, 'admin-token'), 'utf8').trim();
    const cp = this.lab.host('cp');
    const made = watch(this.lab.spawn(cp, [process.execPath, CLI, 'token', 'create', '--service', service, '--ttl', '2h', '--json', '--control-plane', this.#controlPlane],
      { TRELLIS_ADMIN_TOKEN: adminToken }), 'trellis token create');
    // The JSON is printed over several lines: the token's is `  "token": "…",`.
    const line = await made.line((l) => l.includes('"token"'), START_MS);
    const token = /"token":\s*"([^"]+)"/.exec(line)?.[1];
    if (token === undefined) throw new Error(`trellis token create printed no token: ${line}`);
    return token;
  }

  async #startReplica(id: string, host: Host): Promise<Replica> {
    const app = watch(this.lab.spawn(host, [process.execPath, APP, id]), `app ${id}`);
    const port = await app.line((l) => /^\d+$/.test(l), START_MS);
    const sidecar = watch(this.lab.spawn(host, [process.execPath, ...SIDECAR_V8_FLAGS, CLI, 'proxy', '--service', 'svc', '--id', id, '--control-plane', this.#controlPlane,
      '--app-port', port, '--inbound', `${host.address}:0`, '--admin', '127.0.0.1:0', '--health-interval', '500ms', '--log-level', 'info'],
    { TRELLIS_TOKEN: this.#tokens.get('svc') ?? '' }), `sidecar ${id}`);
    await sidecar.line(isReady('sidecar ready'), START_MS);
    return { id, host, app, sidecar };
  }

  /** Start `replica` again (its app and sidecar), e.g. after a kill -9 of its host's processes. */
  async restart(replica: Replica): Promise<void> {
    await replica.app.kill();
    await replica.sidecar.kill();
    const fresh = await this.#startReplica(replica.id, replica.host);
    replica.app = fresh.app;
    replica.sidecar = fresh.sidecar;
  }

  /** A fresh caller (a new sidecar: no memory of earlier faults) and its probe, once it may pick all 3 replicas. */
  async startCaller(): Promise<Caller> {
    const host = this.lab.host('caller');
    const sidecar = watch(this.lab.spawn(host, [process.execPath, ...SIDECAR_V8_FLAGS, CLI, 'proxy', '--service', 'caller', '--id', 'caller-1', '--control-plane', this.#controlPlane,
      '--upstream', 'svc', '--outbound', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-level', 'info'],
    { TRELLIS_TOKEN: this.#tokens.get('caller') ?? '' }), 'caller sidecar');
    const ready = await sidecar.line(isReady('sidecar ready'), START_MS);
    const outbound = jsonField(ready, 'outbound') ?? '';
    const admin = jsonField(ready, 'admin') ?? '';
    const probe = watch(this.lab.spawn(host, [process.execPath, PROBE, '--outbound', outbound, '--admin', admin, '--service', 'svc',
      '--get-rate', String(this.#options.getRate), '--post-rate', String(this.#options.postRate)]), 'probe');
    const parsed = (): ProbeLine[] => probe.lines.map((l) => JSON.parse(l) as ProbeLine);
    const caller: Caller = {
      sidecar, probe, lines: parsed,
      stop: async () => {
        probe.child.kill('SIGTERM');
        await probe.line((l) => l === '{"k":"end"}', 45_000);
        await probe.kill();
        await sidecar.kill();
        return parsed();
      },
    };
    this.caller = caller;
    await probe.line((l) => {
      if (!l.startsWith('{"k":"s"')) return false;
      return (JSON.parse(l) as { p: string[] }).p.length === 3;
    }, START_MS);
    return caller;
  }

  /** Stop everything this mesh started (the lab's namespaces stay: `lab.destroy()`). */
  async stop(): Promise<void> {
    if (this.caller !== undefined) {
      await this.caller.probe.kill();
      await this.caller.sidecar.kill();
    }
    for (const r of this.replicas) {
      await r.app.kill();
      await r.sidecar.kill();
    }
    rmSync(this.#dataDir, { recursive: true, force: true });
  }
}
