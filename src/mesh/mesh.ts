/**
 * `trellis up` as a library: the control plane on the embedded store (in this process), then
 * the entry point of the exposed services, then every replica of every service as its own
 * process (app + sidecar) — services after the services they call, the replicas of one
 * service in parallel. `stop()` closes the entry point, drains and stops the replicas (in
 * parallel), then closes the control plane.
 */
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { DEFAULT_DNS, DEFAULT_LISTEN } from '../config/env.js';
import { startControlPlane, type ControlPlane } from '../control-plane/server.js';
import { ErrorCodes, TrellisError, isTrellisError, messageOf } from '../errors.js';
import { freePorts } from '../run/free-port.js';
import { RUN_DEFAULTS, type InstanceInfo } from '../run/types.js';
import { formatHostPort, parseHostPort, type HostPort } from '../util/host-port.js';
import { INGRESS_SERVICE, startIngress, type Ingress } from './ingress.js';
import { planReplicas, type ReplicaPlan } from './plan.js';
import { startReplica, type Replica } from './replica.js';
import type { MeshFile } from './schema.js';

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
  | { readonly kind: 'stopping' };

export interface Mesh {
  readonly controlPlane: ControlPlane;
  /** The replicas, in start order (a restarted one replaces its predecessor). */
  replicas(): readonly Replica[];
  /** Each exposed service's entry point, host:port. */
  readonly exposed: ReadonlyMap<string, string>;
  /** Start a replica again with the same id and spec (after it exited or was killed). */
  restart(id: string): Promise<Replica>;
  stop(): Promise<void>;
}

/** A replica's join token only has to last until its sidecar has its first certificate or session (both renew without it). */
const REPLICA_TOKEN_TTL = '10m';

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

export async function startMesh(options: MeshOptions): Promise<Mesh> {
  const emit = (event: MeshEvent): void => options.onEvent?.(event);
  const controlPlane = await startControlPlaneFor(options);
  emit({ kind: 'control-plane', url: controlPlane.url, dns: controlPlane.dns === undefined ? undefined : formatHostPort(controlPlane.dns), dataDir: options.dataDir });
  const replicas: Replica[] = [];
  let ingress: Ingress | undefined;
  const exposed = new Map<string, string>();
  let stopping = false;
  const stopGraceMs = options.stopGraceMs ?? RUN_DEFAULTS.stopGraceMs;

  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    emit({ kind: 'stopping' });
    await ingress?.close().catch((err: unknown) => options.logger.warn({ err: messageOf(err) }, 'the entry point did not close cleanly'));
    await Promise.all(replicas.map((r) => r.stop(stopGraceMs + STOP_MARGIN_MS)));
    await controlPlane.close();
  };

  /** This control plane is ours: each replica's sidecar gets a join token minted for it, valid for its start only. */
  const joinToken = async (service: string): Promise<{ token: string }> => ({ token: (await controlPlane.tokens.create({ service, ttl: REPLICA_TOKEN_TTL })).token });

  const launch = async (plan: ReplicaPlan): Promise<Replica> => {
    emit({ kind: 'starting', service: plan.service, index: plan.index, replicas: plan.replicas });
    const spec = { ...plan.spec, ...(await joinToken(plan.service)) };
    const replica = await startReplica(spec, {
      stdout: options.replicaOutput.stdout,
      stderr: options.replicaOutput.stderr,
      logLevel: options.replicaLogLevel ?? 'warn',
    });
    void replica.exited.then((code) => { if (!stopping) emit({ kind: 'exited', id: plan.spec.id, code }); });
    emit({ kind: 'ready', service: plan.service, index: plan.index, replicas: plan.replicas, info: replica.info });
    return replica;
  };

  const plans = planReplicas(options.mesh, { baseDir: options.baseDir, controlPlane: controlPlane.url, stopGraceMs });
  try {
    const stale = await removeStale(controlPlane);
    if (stale > 0) emit({ kind: 'stale-removed', count: stale });
    // The entry point first: a taken port fails the start before any replica runs.
    const services = Object.entries(options.mesh.services).flatMap(([service, declaration]) => (declaration.port === undefined ? [] : [{
      service,
      port: declaration.port,
      ...(declaration.loadBalancer === undefined ? {} : { loadBalancer: declaration.loadBalancer }),
      ...(declaration.protocol === undefined ? {} : { protocol: declaration.protocol }),
    }]));
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
      const group = plans.filter((p) => p.service === service);
      // Distinct app ports for replicas starting side by side.
      const ports = await freePorts(group.length);
      const results = await Promise.allSettled(group.map((plan, i) => launch({ ...plan, spec: { ...plan.spec, port: ports[i] } })));
      for (const result of results) if (result.status === 'fulfilled') replicas.push(result.value);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    controlPlane,
    replicas: () => [...replicas],
    exposed,
    async restart(id: string): Promise<Replica> {
      const at = replicas.findIndex((r) => r.spec.id === id);
      const plan = plans.find((p) => p.spec.id === id);
      const current = replicas[at];
      if (plan === undefined || current === undefined) {
        throw new TrellisError(ErrorCodes.INSTANCE_NOT_FOUND, `no replica ${JSON.stringify(id)} in this mesh (replicas: ${replicas.map((r) => r.spec.id).join(', ')})`);
      }
      if (current.running()) await current.stop(stopGraceMs + STOP_MARGIN_MS);
      const replica = await launch(plan);
      replicas[at] = replica;
      return replica;
    },
    stop,
  };
}
