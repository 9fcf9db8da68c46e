/**
 * From a mesh file to what to run: one RunSpec per replica, in start order (services a
 * caller depends on first), ids `<service>-<n>`. An upstream's load balancer and protocol
 * are the ones the upstream entry names, else the ones the called service declares.
 */
import { isAbsolute, resolve } from 'node:path';
import { RUN_DEFAULTS, type RunSpec, type UpstreamSpec } from '../run/types.js';
import type { MeshFile, ServiceDeclaration, UpstreamDeclaration } from './schema.js';

export interface ReplicaPlan {
  readonly service: string;
  /** 1-based. */
  readonly index: number;
  readonly replicas: number;
  readonly spec: RunSpec;
}

export interface PlanOptions {
  /** Directory of the mesh file: commands run there, and `cwd` is relative to it. */
  readonly baseDir: string;
  readonly controlPlane: string;
  readonly stopGraceMs?: number;
}

/** Services ordered so that each comes after the services it calls (file order otherwise; cycles keep file order). */
export function startOrder(mesh: MeshFile): string[] {
  const order: string[] = [];
  const visiting = new Set<string>();
  const visit = (name: string): void => {
    if (order.includes(name) || visiting.has(name)) return;
    visiting.add(name);
    for (const upstream of mesh.services[name]?.upstreams ?? []) visit(upstream.service);
    order.push(name);
  };
  Object.keys(mesh.services).forEach(visit);
  return order;
}

function upstreamSpec(mesh: MeshFile, upstream: UpstreamDeclaration): UpstreamSpec {
  const { service, port, loadBalancer, protocol, ...rest } = upstream;
  const balancer = loadBalancer ?? mesh.services[service]?.loadBalancer;
  const speaks = protocol ?? mesh.services[service]?.protocol;
  const routes = mesh.services[service]?.routes;
  const policy = {
    ...rest,
    ...(routes === undefined ? {} : { routes }),
    ...(speaks === undefined ? {} : { protocol: speaks }),
    ...(balancer === undefined ? {} : { loadBalancer: balancer }),
  };
  return {
    service,
    ...(port === undefined ? {} : { port }),
    ...(Object.keys(policy).length === 0 ? {} : { policy }),
  };
}

function replicaSpec(mesh: MeshFile, name: string, service: ServiceDeclaration, index: number, options: PlanOptions): RunSpec {
  const cwd = service.cwd === undefined ? options.baseDir : (isAbsolute(service.cwd) ? service.cwd : resolve(options.baseDir, service.cwd));
  return {
    service: name,
    id: `${name}-${index}`,
    command: service.command,
    cwd,
    ...(service.env === undefined ? {} : { env: service.env }),
    ...(service.protocol === undefined ? {} : { appProtocol: service.protocol }),
    ...(service.health.http === undefined ? {} : { healthPath: service.health.http }),
    ...(service.health.interval === undefined ? {} : { healthIntervalMs: service.health.interval }),
    ...(service.weight === undefined ? {} : { weight: service.weight }),
    ...(service.metadata === undefined ? {} : { metadata: service.metadata }),
    ...(service.routes === undefined ? {} : { routes: service.routes }),
    upstreams: service.upstreams.map((u) => upstreamSpec(mesh, u)),
    controlPlane: options.controlPlane,
    readyTimeoutMs: service.readyTimeout ?? RUN_DEFAULTS.readyTimeoutMs,
    mtlsMode: service.mtls ?? mesh.mtls,
    stopGraceMs: options.stopGraceMs ?? RUN_DEFAULTS.stopGraceMs,
  };
}

export function planReplicas(mesh: MeshFile, options: PlanOptions): ReplicaPlan[] {
  return startOrder(mesh).flatMap((name) => {
    const service = mesh.services[name];
    if (service === undefined) return [];
    return Array.from({ length: service.replicas }, (_, i) => ({
      service: name,
      index: i + 1,
      replicas: service.replicas,
      spec: replicaSpec(mesh, name, service, i + 1, options),
    }));
  });
}
