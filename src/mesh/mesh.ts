/**
 * `trellis up` as a library: the control plane on the embedded store (in this process), then
 * the entry point of the exposed services, then every replica of every service as its own
 * process (app + sidecar) — services after the services they call, the replicas of one
 * service in parallel. `stop()` closes the entry point, drains and stops the replicas (in
 * parallel), then closes the control plane.
 */
import { constants as osConstants } from 'node:os';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { DEFAULT_DNS, DEFAULT_LISTEN } from '../config/env.js';
import { startControlPlane, type ControlPlane } from '../control-plane/server.js';
import { ErrorCodes, TrellisError, isTrellisError, messageOf } from '../errors.js';
import { describeExit, startApp } from '../run/app-process.js';
import { freePorts } from '../run/free-port.js';
import { createNamespace, deleteNamespace, removeOrphanNamespaces, type NamespaceNetwork } from '../run/netns.js';
import { RUN_DEFAULTS, type InstanceInfo } from '../run/types.js';
import { formatDuration } from '../util/duration.js';
import { formatHostPort, parseHostPort, type HostPort } from '../util/host-port.js';
import { INGRESS_SERVICE, startIngress, type Ingress } from './ingress.js';
import { planReplicas, type ReplicaPlan } from './plan.js';
import { startReplica, type Replica } from './replica.js';
import { watchLiveness } from './liveness.js';
import { RestartBackoff, shouldRestart } from './restart.js';
import type { MeshFile, RestartPolicy } from './schema.js';

export interface MeshOptions {
  readonly mesh: MeshFile;
  /** The file's name, for messages. */
  readonly file: string;
  /** Commands run here (the mesh file's directory). */
  readonly baseDir: string;
  readonly dataDir: string;
  /** Override the file's controlPlane.listen / controlPlane.dns. */
  readonly listen?: HostPort;
  readonly dns?: HostPort | false;
  /** When a fixed port (control plane, DNS, exposed service) is taken: fail (default) or use any free port. */
  readonly busyPorts?: 'fail' | 'any';
  /** Exposed services on their declared ports (default), or each on a free port (the summary says which). */
  readonly exposedPorts?: 'declared' | 'free';
  /** The control plane's log. */
  readonly logger: Logger;
  /** Where replica output (prefixed with the instance id) goes. */
  readonly replicaOutput: { readonly stdout: Writable; readonly stderr: Writable };
  readonly replicaLogLevel?: string;
  readonly stopGraceMs?: number;
  readonly onEvent?: (event: MeshEvent) => void;
  /** Aborting it while the mesh starts stops what was started and fails the start. */
  readonly signal?: AbortSignal;
}

export type MeshEvent =
  | { readonly kind: 'control-plane'; readonly url: string; readonly dns: string | undefined; readonly dataDir: string }
  | { readonly kind: 'stale-removed'; readonly count: number }
  | { readonly kind: 'starting'; readonly service: string; readonly index: number; readonly replicas: number }
  | { readonly kind: 'ready'; readonly service: string; readonly index: number; readonly replicas: number; readonly info: InstanceInfo }
  | { readonly kind: 'exposed'; readonly service: string; readonly address: string }
  | { readonly kind: 'exited'; readonly id: string; readonly code: number | null }
  | { readonly kind: 'restarting'; readonly id: string; readonly inMs: number; readonly restarts: number }
  | { readonly kind: 'restart-failed'; readonly id: string; readonly message: string }
  | { readonly kind: 'not-restarted'; readonly id: string; readonly restart: RestartPolicy }
  | { readonly kind: 'build'; readonly service: string; readonly command: readonly string[] }
  | { readonly kind: 'liveness-failed'; readonly id: string; readonly failures: number; readonly output: string }
  | { readonly kind: 'stopping' };

/** How one replica fares: its restart policy, how often it was restarted, what it does now. */
export interface ReplicaState {
  readonly id: string;
  readonly restart: RestartPolicy;
  readonly restarts: number;
  readonly state: 'running' | 'restarting' | 'exited';
  /** How its last run ended (`exit code 137 (SIGKILL)`); undefined before its first exit. */
  readonly lastExit: string | undefined;
  /** The back-off before its last restart (ms); undefined before its first restart. */
  readonly backoffMs: number | undefined;
}

export interface Mesh {
  readonly controlPlane: ControlPlane;
  /** The replicas, in start order (a restarted one replaces its predecessor). */
  replicas(): readonly Replica[];
  /** Each exposed service's entry point, host:port. */
  readonly exposed: ReadonlyMap<string, string>;
  /** Each replica's restart policy and restarts, in start order. */
  replicaStates(): readonly ReplicaState[];
  /** Start a replica again with the same id and spec now (after it exited or was killed; a scheduled restart is brought forward). */
  restart(id: string): Promise<Replica>;
  stop(): Promise<void>;
}

/** A replica's join token only has to last until its sidecar has its first certificate or session (both renew without it). */
const REPLICA_TOKEN_TTL = '10m';

/** Instance metadata: the replica's restart policy, and how often `up` restarted it. */
export const RESTART_LABEL = 'trellis.dev/restart';
export const RESTARTS_LABEL = 'trellis.dev/restarts';
/** How the replica's previous run ended, and the back-off before this run (set from the first restart on). */
export const LAST_EXIT_LABEL = 'trellis.dev/last-exit';
export const BACKOFF_LABEL = 'trellis.dev/backoff';

/** A replica process's exit: `exit code 0`, `exit code 137 (SIGKILL)` (128 + N: its app was ended by signal N), `killed by a signal`. */
export function describeReplicaExit(code: number | null, unlive: boolean): string {
  const why = unlive ? ', stopped after failing its liveness check' : '';
  if (code === null) return `killed by a signal${why}`;
  const signal = code > 128 ? Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0] : undefined;
  return `exit code ${code}${signal === undefined ? '' : ` (${signal})`}${why}`;
}

/** On the registration that stands for a replica waiting out its back-off: when it starts again (ISO time). */
export const RESTARTING_LABEL = 'trellis.dev/restarting-at';
const RESTARTING_CHECK = 'restarting';

/** A replica's metadata: its own, plus its restart policy, restarts, last exit and back-off. */
function labelsOf(slot: Slot): Record<string, string> {
  const { plan } = slot;
  return {
    ...plan.spec.metadata, [RESTART_LABEL]: plan.restart, [RESTARTS_LABEL]: String(slot.backoff.restarts),
    ...(slot.lastExit === undefined ? {} : { [LAST_EXIT_LABEL]: slot.lastExit }),
    ...(slot.backoffMs === undefined ? {} : { [BACKOFF_LABEL]: formatDuration(slot.backoffMs) }),
  };
}

/** Drain time on top of the app's grace period before a replica is killed. */
const STOP_MARGIN_MS = 10_000;

async function startControlPlaneFor(options: MeshOptions): Promise<ControlPlane> {
  const declared = options.mesh.controlPlane;
  const listen = options.listen ?? declared?.listen ?? parseHostPort(DEFAULT_LISTEN, 'listen');
  const fileDns = declared?.dns === 'off' ? false : declared?.dns;
  const dns = options.dns ?? fileDns ?? parseHostPort(DEFAULT_DNS, 'dns');
  const start = (api: HostPort, dnsAt: HostPort | false): Promise<ControlPlane> =>
    startControlPlane({ dataDir: options.dataDir, listen: api, dns: dnsAt, logger: options.logger });
  try {
    return await start(listen, dns);
  } catch (err) {
    if (!isTrellisError(err) || err.code !== ErrorCodes.LISTEN) throw err;
    if (options.busyPorts === 'any') return start({ ...listen, port: 0 }, dns === false ? false : { ...dns, port: 0 });
    throw new TrellisError(ErrorCodes.LISTEN, `${err.message}; or set controlPlane.listen / controlPlane.dns in ${options.file}`, { cause: err });
  }
}

async function removeStale(controlPlane: ControlPlane): Promise<number> {
  const { instances } = await controlPlane.registry.listAll();
  for (const i of instances) await controlPlane.registry.deregister(i.service, i.id);
  return instances.length;
}

/** One replica's place in the mesh: the same id, port and network namespace across restarts. */
interface Slot {
  plan: ReplicaPlan;
  network?: NamespaceNetwork;
  replica?: Replica | undefined;
  readyAt: number;
  readonly backoff: RestartBackoff;
  timer?: NodeJS.Timeout | undefined;
  launching?: Promise<Replica> | undefined;
  exited: boolean;
  /** Stops the liveness watch of the running replica. */
  unwatch?: () => void;
  /** Set when `up` stopped the replica for failing its liveness check: it counts as a failure. */
  unlive: boolean;
  lastExit?: string;
  backoffMs?: number;
}

/** A service's build step (`build:`, a Dockerfile's RUN): once, before its first replica. */
async function build(plan: ReplicaPlan, command: readonly string[], options: MeshOptions): Promise<void> {
  const app = startApp({
    command,
    ...(plan.spec.cwd === undefined ? {} : { cwd: plan.spec.cwd }),
    env: process.env,
    output: { stdout: options.replicaOutput.stdout, stderr: options.replicaOutput.stderr, prefix: `[${plan.service} build] ` },
  });
  const exit = await app.exited;
  if (exit.code !== 0) {
    throw new TrellisError(ErrorCodes.APP_UNAVAILABLE, `${plan.service}: the build step \`${command.join(' ')}\` ${describeExit(exit)} (in ${plan.spec.cwd ?? '.'}); fix it, or remove build: from ${options.file}`);
  }
}

export async function startMesh(options: MeshOptions): Promise<Mesh> {
  const emit = (event: MeshEvent): void => options.onEvent?.(event);
  const stopGraceMs = options.stopGraceMs ?? RUN_DEFAULTS.stopGraceMs;
  // Planned before anything starts: a replica that cannot run here fails the start at once.
  const plans = planReplicas(options.mesh, { baseDir: options.baseDir, controlPlane: '', stopGraceMs });
  const controlPlane = await startControlPlaneFor(options);
  emit({ kind: 'control-plane', url: controlPlane.url, dns: controlPlane.dns === undefined ? undefined : formatHostPort(controlPlane.dns), dataDir: options.dataDir });
  const slots = new Map<string, Slot>(plans.map((plan) => [plan.spec.id, {
    plan: { ...plan, spec: { ...plan.spec, controlPlane: controlPlane.url } }, readyAt: 0, backoff: new RestartBackoff(), exited: false, unlive: false,
  }]));
  let ingress: Ingress | undefined;
  const exposed = new Map<string, string>();
  let stopping = false;
  const running = (): Replica[] => [...slots.values()].flatMap((slot) => (slot.replica === undefined ? [] : [slot.replica]));

  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    emit({ kind: 'stopping' });
    for (const slot of slots.values()) { clearTimeout(slot.timer); slot.unwatch?.(); }
    await ingress?.close().catch((err: unknown) => options.logger.warn({ err: messageOf(err) }, 'the entry point did not close cleanly'));
    await Promise.allSettled([...slots.values()].map((slot) => slot.launching));
    await Promise.all(running().map((r) => r.stop(r.spec.stopGraceMs + STOP_MARGIN_MS)));
    await Promise.all([...slots.values()].map((slot) => (slot.network === undefined ? undefined : deleteNamespace(slot.network.namespace))));
    await controlPlane.close();
  };

  /** This control plane is ours: each replica's sidecar gets a join token minted for it, valid for its start only. */
  const joinToken = async (service: string): Promise<{ token: string }> => ({ token: (await controlPlane.tokens.create({ service, ttl: REPLICA_TOKEN_TTL })).token });

  const scheduleRestart = (slot: Slot, ranMs: number): void => {
    const inMs = slot.backoff.next(ranMs);
    slot.backoffMs = inMs;
    emit({ kind: 'restarting', id: slot.plan.spec.id, inMs, restarts: slot.backoff.restarts });
    void showRestarting(slot, inMs).catch((err: unknown) => options.logger.warn({ id: slot.plan.spec.id, err: messageOf(err) }, 'could not show the replica as restarting in the registry'));
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (stopping) return;
      const launching = launch(slot);
      slot.launching = launching;
      launching.catch((err: unknown) => {
        if (stopping) return;
        emit({ kind: 'restart-failed', id: slot.plan.spec.id, message: messageOf(err) });
        scheduleRestart(slot, 0);
      }).finally(() => { if (slot.launching === launching) slot.launching = undefined; });
    }, inMs);
  };

  /**
   * While a replica waits out its back-off, its instances stay in the registry as Kubernetes
   * keeps a pod in CrashLoopBackOff: critical (never routed to) and weight 0, the check saying
   * "restarting in N s", and the labels of the run that just ended (restarts, last exit,
   * back-off) — so `trellis instances` and the dashboard show that, not the previous run's
   * labels or a bare "gone". The next run's registration replaces it; if `up` goes away, it is
   * reaped a little after its back-off.
   */
  const showRestarting = async (slot: Slot, inMs: number): Promise<void> => {
    const info = slot.replica?.info;
    if (info === undefined) return;
    const metadata = { ...labelsOf(slot), [RESTARTING_LABEL]: new Date(Date.now() + inMs).toISOString() };
    const output = `restarting in ${formatDuration(inMs)} (restart #${slot.backoff.restarts}; last ${slot.lastExit ?? 'exit'})`;
    const registrations = [
      { service: info.service, id: info.id, inbound: info.inbound },
      ...(info.ports ?? []).map((p) => ({ service: p.service, id: p.id, inbound: p.inbound })),
    ];
    for (const r of registrations) {
      const at = r.inbound === '-' ? { host: '127.0.0.1', port: 1 } : parseHostPort(r.inbound, 'inbound');
      // Critical from the start: a check that begins critical (and probes nothing that listens, hourly).
      await controlPlane.registry.register(r.service, r.id, {
        address: at.host, port: at.port, weight: 0, metadata, ttl: formatDuration(inMs + 30_000), deregisterCriticalAfter: formatDuration(inMs + 30_000),
        checks: [{ type: 'tcp', name: RESTARTING_CHECK, initialStatus: 'critical', interval: '1h', port: 1 }],
      });
      await controlPlane.registry.setCheckStatus(r.service, r.id, 'ttl', 'critical', output);
    }
  };

  const onExit = (slot: Slot, replica: Replica, code: number | null): void => {
    if (slot.replica === replica) slot.unwatch?.();
    if (stopping || slot.replica !== replica) return; // stopping, or replaced by restart()
    slot.exited = true;
    slot.lastExit = describeReplicaExit(code, slot.unlive);
    emit({ kind: 'exited', id: slot.plan.spec.id, code });
    const failed = slot.unlive ? (code === 0 ? 1 : code) : code;
    slot.unlive = false;
    if (shouldRestart(slot.plan.restart, failed)) scheduleRestart(slot, Date.now() - slot.readyAt);
    else emit({ kind: 'not-restarted', id: slot.plan.spec.id, restart: slot.plan.restart });
  };

  const launch = async (slot: Slot): Promise<Replica> => {
    const { plan } = slot;
    emit({ kind: 'starting', service: plan.service, index: plan.index, replicas: plan.replicas });
    const spec = {
      ...plan.spec,
      // The restart policy and count travel with the instance (trellis instances, the dashboard's data).
      metadata: labelsOf(slot),
      ...(slot.network === undefined ? {} : { network: slot.network }),
      ...(await joinToken(plan.service)),
      // The app's other ports register services of their own: a token for each.
      ...(plan.spec.ports === undefined ? {} : { ports: await Promise.all(plan.spec.ports.map(async (p) => ({ ...p, ...(await joinToken(p.service)) }))) }),
    };
    const replica = await startReplica(spec, {
      stdout: options.replicaOutput.stdout,
      stderr: options.replicaOutput.stderr,
      logLevel: options.replicaLogLevel ?? 'warn',
    });
    slot.unwatch?.();
    slot.replica = replica;
    slot.exited = false;
    slot.readyAt = Date.now();
    void replica.exited.then((code) => onExit(slot, replica, code));
    const { liveness } = plan;
    if (liveness !== undefined) {
      slot.unwatch = watchLiveness(replica.info.appHost, replica.info.appPort, liveness, (output) => {
        if (stopping || slot.replica !== replica) return;
        emit({ kind: 'liveness-failed', id: plan.spec.id, failures: liveness.failureThreshold, output });
        slot.unlive = true;
        void replica.stop(replica.spec.stopGraceMs + STOP_MARGIN_MS);
      });
    }
    emit({ kind: 'ready', service: plan.service, index: plan.index, replicas: plan.replicas, info: replica.info });
    return replica;
  };

  try {
    const stale = await removeStale(controlPlane);
    if (stale > 0) emit({ kind: 'stale-removed', count: stale });
    if (plans.some((p) => p.network === 'namespace')) await removeOrphanNamespaces();
    // The entry point first: a taken port fails the start before any replica runs.
    const services = Object.entries(options.mesh.services).flatMap(([service, declaration]) => [
      ...(declaration.port === undefined ? [] : [{
        service,
        port: options.exposedPorts === 'free' ? 0 : declaration.port,
        ...(declaration.loadBalancer === undefined ? {} : { loadBalancer: declaration.loadBalancer }),
        ...(declaration.protocol === undefined ? {} : { protocol: declaration.protocol }),
      }]),
      // The app's other ports, exposed on their own entry ports.
      ...declaration.ports.flatMap((p) => (p.port === undefined ? [] : [{
        service: p.service,
        port: options.exposedPorts === 'free' ? 0 : p.port,
        ...(p.protocol === undefined ? {} : { protocol: p.protocol }),
      }])),
    ]);
    if (services.length > 0) {
      ingress = await startIngress({
        services, controlPlane: controlPlane.url, busyPorts: options.busyPorts ?? 'fail', file: options.file, logger: options.logger,
        mtlsMode: options.mesh.mtls, ...(await joinToken(INGRESS_SERVICE)),
      });
      for (const [service, address] of ingress.addresses) {
        exposed.set(service, address);
        emit({ kind: 'exposed', service, address });
      }
    }
    // Services one after the other (upstreams first), the replicas of each in parallel.
    for (const service of [...new Set(plans.map((p) => p.service))]) {
      if (options.signal?.aborted) throw new TrellisError(ErrorCodes.APP_UNAVAILABLE, 'stopped while the mesh was starting');
      const group = [...slots.values()].filter((slot) => slot.plan.service === service);
      const first = group[0]?.plan;
      if (first?.build !== undefined) {
        emit({ kind: 'build', service, command: first.build });
        await build(first, first.build, options);
      }
      // Distinct app ports for replicas starting side by side (unless the app has its own, targetPort).
      const ports = await freePorts(group.length);
      await Promise.all(group.map(async (slot, i) => {
        if (slot.plan.spec.port === undefined) slot.plan = { ...slot.plan, spec: { ...slot.plan.spec, port: ports[i] } };
        if (slot.plan.network === 'namespace') slot.network = await createNamespace();
      }));
      const results = await Promise.allSettled(group.map((slot) => launch(slot)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    controlPlane,
    replicas: running,
    replicaStates: () => [...slots.values()].map((slot) => ({
      id: slot.plan.spec.id,
      restart: slot.plan.restart,
      restarts: slot.backoff.restarts,
      state: !slot.exited ? 'running' : slot.timer !== undefined || slot.launching !== undefined ? 'restarting' : 'exited',
      lastExit: slot.lastExit,
      backoffMs: slot.backoffMs,
    })),
    exposed,
    async restart(id: string): Promise<Replica> {
      const slot = slots.get(id);
      if (slot === undefined) {
        throw new TrellisError(ErrorCodes.INSTANCE_NOT_FOUND, `no replica ${JSON.stringify(id)} in this mesh (replicas: ${[...slots.keys()].join(', ')})`);
      }
      clearTimeout(slot.timer);
      slot.timer = undefined;
      if (slot.launching !== undefined) return slot.launching;
      slot.unwatch?.();
      const current = slot.replica;
      slot.replica = undefined;
      if (current?.running() === true) await current.stop(current.spec.stopGraceMs + STOP_MARGIN_MS);
      const launching = launch(slot);
      slot.launching = launching;
      try {
        return await launching;
      } finally {
        slot.launching = undefined;
      }
    },
    stop,
  };
}
