/**
 * From a mesh file to what to run: one RunSpec per replica, in start order (services a
 * caller depends on first), ids `<service>-<n>`. An upstream's load balancer and protocol
 * are the ones the upstream entry names, else the ones the called service declares.
 */
import { isAbsolute, resolve } from 'node:path';
import { ErrorCodes, TrellisError } from '../errors.js';
import { namespaceUnavailable } from '../run/netns.js';
import { RUN_DEFAULTS, type RunSpec, type UpstreamSpec } from '../run/types.js';
import { LIVENESS_DEFAULTS, type LivenessSpec } from './liveness.js';
import type { MeshFile, NetworkMode, PortDeclaration, RestartPolicy, ServiceDeclaration, UpstreamDeclaration } from './schema.js';

export interface ReplicaPlan {
  readonly service: string;
  /** 1-based. */
  readonly index: number;
  readonly replicas: number;
  readonly spec: RunSpec;
  readonly restart: RestartPolicy;
  /** Where its app listens: the host's loopback, or a network namespace of its own (created when it starts). */
  readonly network: NetworkMode;
  /** Run once before the service's first replica starts (in the spec's cwd). */
  readonly build?: readonly string[];
  /** Probed by `up`; failing it restarts the replica. */
  readonly liveness?: LivenessSpec;
}

export interface PlanOptions {
  /** Directory of the mesh file: commands run there, and `cwd` is relative to it. */
  readonly baseDir: string;
  readonly controlPlane: string;
  readonly stopGraceMs?: number;
  /** Why network namespaces cannot be made here (default: src/run/netns.ts asks the system). */
  readonly namespaceUnavailable?: string | undefined;
}

/** The port the app listens on by itself: targetPort, or a PORT the user set; undefined = a free one in $PORT. */
export function fixedPortOf(service: ServiceDeclaration): number | undefined {
  const envPort = service.env?.['PORT'];
  return service.targetPort ?? (envPort === undefined ? undefined : Number(envPort));
}

/**
 * host unless asked otherwise — but an app on a fixed port runs in its own network namespace
 * whenever that is possible (as root), and must when several replicas share the port.
 */
function networkOf(name: string, service: ServiceDeclaration, unavailable: string | undefined): NetworkMode {
  const port = fixedPortOf(service) ?? service.ports[0]?.targetPort;
  if (service.network === 'host') return 'host';
  const needed = service.network === 'namespace' || (port !== undefined && service.replicas > 1);
  if (unavailable === undefined) return port !== undefined || needed ? 'namespace' : 'host';
  if (!needed) return 'host';
  const why = service.network === 'namespace'
    ? `${name} asks for network: namespace`
    : `${service.replicas} replicas of ${name} listen on the same fixed port ${port}, so each needs a network namespace of its own`;
  throw new TrellisError(ErrorCodes.CONFIG,
    `${why}, and ${unavailable}: run trellis up as root (sudo trellis up …), or let the app take its port from $PORT and remove targetPort (containerPort / the Service's targetPort in Kubernetes manifests), or run one replica`,
    { field: `services.${name}.network` });
}

/** The service of the file that registers `name`: itself, or the one whose other port it is. */
function ownerOf(mesh: MeshFile, name: string): string {
  if (mesh.services[name] !== undefined) return name;
  return Object.entries(mesh.services).find(([, s]) => s.ports.some((p) => p.service === name))?.[0] ?? name;
}

/** The port declaration behind a service name that is another port of a service (undefined otherwise). */
function portNamed(mesh: MeshFile, name: string): PortDeclaration | undefined {
  for (const service of Object.values(mesh.services)) {
    const port = service.ports.find((p) => p.service === name);
    if (port !== undefined) return port;
  }
  return undefined;
}

/** Services ordered so that each comes after the services it calls (file order otherwise; cycles keep file order). */
export function startOrder(mesh: MeshFile): string[] {
  const order: string[] = [];
  const visiting = new Set<string>();
  const visit = (called: string): void => {
    const name = ownerOf(mesh, called);
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
  const speaks = protocol ?? mesh.services[service]?.protocol ?? portNamed(mesh, service)?.protocol;
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
  const fixedPort = fixedPortOf(service);
  return {
    service: name,
    id: `${name}-${index}`,
    command: service.command,
    cwd,
    ...(fixedPort === undefined ? {} : { port: fixedPort }),
    ...(service.env === undefined ? {} : { env: service.env }),
    ...(service.protocol === undefined ? {} : { appProtocol: service.protocol }),
    ...(service.health.http === undefined ? {} : { healthPath: service.health.http }),
    ...(service.health.interval === undefined ? {} : { healthIntervalMs: service.health.interval }),
    ...(service.weight === undefined ? {} : { weight: service.weight }),
    ...(service.metadata === undefined ? {} : { metadata: service.metadata }),
    ...(service.routes === undefined ? {} : { routes: service.routes }),
    upstreams: service.upstreams.map((u) => upstreamSpec(mesh, u)),
    ...(service.ports.length === 0 ? {} : {
      ports: service.ports.map((p) => ({
        service: p.service, id: `${p.service}-${index}`, port: p.targetPort,
        ...(p.protocol === undefined ? {} : { protocol: p.protocol }),
        ...(p.health?.http === undefined ? {} : { healthPath: p.health.http }),
      })),
    }),
    controlPlane: options.controlPlane,
    readyTimeoutMs: service.readyTimeout ?? RUN_DEFAULTS.readyTimeoutMs,
    mtlsMode: service.mtls ?? mesh.mtls,
    stopGraceMs: service.stopGrace ?? options.stopGraceMs ?? RUN_DEFAULTS.stopGraceMs,
  };
}

export function planReplicas(mesh: MeshFile, options: PlanOptions): ReplicaPlan[] {
  const unavailable = 'namespaceUnavailable' in options ? options.namespaceUnavailable : namespaceUnavailable();
  return startOrder(mesh).flatMap((name) => {
    const service = mesh.services[name];
    if (service === undefined) return [];
    const network = networkOf(name, service, unavailable);
    return Array.from({ length: service.replicas }, (_, i) => ({
      service: name,
      index: i + 1,
      replicas: service.replicas,
      spec: replicaSpec(mesh, name, service, i + 1, options),
      restart: service.restart,
      network,
      ...(service.build === undefined ? {} : { build: service.build }),
      ...(service.liveness === undefined ? {} : {
        liveness: {
          ...(service.liveness.http === undefined ? {} : { http: service.liveness.http }),
          intervalMs: service.liveness.interval ?? LIVENESS_DEFAULTS.intervalMs,
          failureThreshold: service.liveness.failureThreshold ?? LIVENESS_DEFAULTS.failureThreshold,
        },
      }),
    }));
  });
}
