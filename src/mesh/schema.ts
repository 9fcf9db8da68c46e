/**
 * The mesh file (`trellis up FILE`): one versionless YAML document declaring services,
 * their replicas and what they call. Validated once here; every message starts with the
 * field it is about (the loader adds the file and line). See docs/mesh-file.md.
 */
import { z } from 'zod';
import { routesSchema } from '../telemetry/routes.js';
import { DEFAULT_MTLS_MODE, MTLS_MODES } from '../security/mtls/mode.js';
import { PROTOCOLS } from '../proxy/config.js';
import { upstreamPolicySchema } from '../proxy/policy.js';
import { serviceNameSchema } from '../registry/schema.js';
import { Limits } from '../registry/limits.js';
import { didYouMean } from '../util/suggest.js';
import { durationField, integerField, hostPortField } from '../util/validation.js';

export const MAX_REPLICAS = 100;
/** Instance ids are `<service>-<n>` and must stay DNS labels. */
const MAX_SERVICE_NAME = Limits.nameMaxLength - 1 - String(MAX_REPLICAS).length;


const controlPlaneSchema = z.object({
  listen: hostPortField('listen').optional(),
  dns: z.union([z.literal('off'), hostPortField('dns')], { invalid_type_error: 'dns must be HOST:PORT or "off"' }).optional(),
}, { invalid_type_error: 'controlPlane must be a map with listen and dns' }).strict();

const healthSchema = z.object({
  http: z.string({ invalid_type_error: 'http must be a path such as /healthz' })
    .regex(/^\/[\x21-\x7e]*$/, 'http must be a path starting with "/", such as /healthz').optional(),
  interval: durationField('interval', Limits.checkIntervalMinMs, Limits.checkIntervalMaxMs).optional(),
}, { invalid_type_error: 'health must be a map such as { http: /healthz, interval: 1s }' }).strict();

/** A pod's livenessProbe: `up` restarts a replica whose app fails it failureThreshold times in a row. */
const livenessSchema = z.object({
  http: z.string({ invalid_type_error: 'http must be a path such as /healthz' })
    .regex(/^\/[\x21-\x7e]*$/, 'http must be a path starting with "/", such as /healthz').optional(),
  interval: durationField('interval', Limits.checkIntervalMinMs, Limits.checkIntervalMaxMs).optional(),
  failureThreshold: integerField('failureThreshold', 1, 100).optional(),
}, { invalid_type_error: 'liveness must be a map such as { http: /healthz, interval: 10s, failureThreshold: 3 }' }).strict();

/**
 * Policy fields (loadBalancer, timeout, retry, …) are checked by the sidecar's own policy
 * schema (src/proxy/policy.ts), so the mesh file accepts exactly what a sidecar does; the
 * raw values go to the sidecar, which parses them again.
 */
function checkPolicy(raw: Record<string, unknown>, ctx: z.RefinementCtx, skipPath = 0): void {
  const result = upstreamPolicySchema.safeParse(raw);
  if (!result.success) for (const issue of result.error.issues) ctx.addIssue({ ...issue, path: issue.path.slice(skipPath) });
}

/** A service's own `loadBalancer`: the default for everyone who calls it. */
const loadBalancerSchema = z.unknown().superRefine((loadBalancer, ctx) => checkPolicy({ loadBalancer }, ctx, 1));

const portSchema = integerField('port', 1, 65_535);

/** What an app or an upstream speaks (see src/proxy/config.ts). */
const protocolSchema = z.enum(PROTOCOLS, { errorMap: () => ({ message: 'protocol must be "http", "http2", "grpc" or "tcp"' }) });

/**
 * An upstream: a service name, or `{ service, port?, protocol?, ...policy }`. Everything
 * but service and port goes to the caller's sidecar as it is.
 */
const upstreamSchema = z.preprocess(
  (raw) => (typeof raw === 'string' ? { service: raw } : raw),
  z.object({
    service: serviceNameSchema,
    port: portSchema.optional(),
    protocol: protocolSchema.optional(),
  }, {
    invalid_type_error: 'each upstream must be a service name or { service: NAME, port: LOCALPORT, ... }',
  }).passthrough().superRefine(({ service: _service, port: _port, protocol: _protocol, ...policy }, ctx) => checkPolicy(policy, ctx)),
);

const labelsSchema = z.record(z.string({ invalid_type_error: 'values must be strings (quote numbers: "3")' }), {
  invalid_type_error: 'must be a map of string labels',
});

/** What `trellis up` does when a replica exits on its own (a Deployment's pods: always). */
export const RESTART_POLICIES = ['always', 'on-failure', 'never'] as const;
export type RestartPolicy = typeof RESTART_POLICIES[number];
const restartSchema = z.enum(RESTART_POLICIES, { errorMap: () => ({ message: 'restart must be "always", "on-failure" or "never"' }) });

/** Where a replica's app listens: the host's loopback, or a network namespace of its own (as a pod; root only). */
export const NETWORK_MODES = ['host', 'namespace'] as const;
export type NetworkMode = typeof NETWORK_MODES[number];
const networkSchema = z.enum(NETWORK_MODES, { errorMap: () => ({ message: 'network must be "host" or "namespace"' }) });

/**
 * One more port of a service's app, registered as a service of its own (a Kubernetes Service's
 * other ports: `<service>-<port name>`). Every replica's app listens on `targetPort` for it;
 * `port` exposes it on the entry point, as the service's own `port` does.
 */
const extraPortSchema = z.object({
  service: serviceNameSchema,
  targetPort: integerField('targetPort', 1, 65_535),
  port: portSchema.optional(),
  protocol: protocolSchema.optional(),
  health: z.object({
    http: z.string({ invalid_type_error: 'http must be a path such as /healthz' })
      .regex(/^\/[\x21-\x7e]*$/, 'http must be a path starting with "/", such as /healthz').optional(),
  }, { invalid_type_error: 'health must be a map such as { http: /healthz }' }).strict().optional(),
}, { invalid_type_error: 'each of ports must be a map such as { service: web-admin, targetPort: 8081 }' }).strict();

const mtlsSchema = z.enum(MTLS_MODES, { errorMap: () => ({ message: 'mtls must be "strict", "permissive" or "off"' }) });

const serviceSchema = z.object({
  replicas: integerField('replicas', 1, MAX_REPLICAS).default(1),
  command: z.array(z.string({ invalid_type_error: 'command items must be strings' }), {
    required_error: 'command is required: the program and its arguments, e.g. ["node", "server.js"]',
    invalid_type_error: 'command must be a list such as ["node", "server.js"]',
  }).min(1, 'command must name a program, e.g. ["node", "server.js"]'),
  cwd: z.string({ invalid_type_error: 'cwd must be a directory path' }).optional(),
  env: labelsSchema.optional(),
  port: portSchema.optional(),
  /** The port the app itself listens on (as a Service's targetPort); a free one in $PORT when absent. */
  targetPort: integerField('targetPort', 1, 65_535).optional(),
  /** The app's other ports, each registered as a service of its own, by every replica. */
  ports: z.array(extraPortSchema, { invalid_type_error: 'ports must be a list such as [{ service: web-admin, targetPort: 8081 }]' }).default([]),
  network: networkSchema.optional(),
  restart: restartSchema.default('always'),
  /** Run once, before the first replica starts, in cwd (what a Dockerfile's RUN does). */
  build: z.array(z.string({ invalid_type_error: 'build items must be strings' }), {
    invalid_type_error: 'build must be a list such as ["go", "build", "-o", "my-app", "."]',
  }).min(1, 'build must name a program, e.g. ["go", "build", "."]').optional(),
  /** After SIGTERM, how long the app may take before SIGKILL (a pod's terminationGracePeriodSeconds). */
  stopGrace: durationField('stopGrace', 0, 3_600_000).optional(),
  protocol: protocolSchema.optional(),
  health: healthSchema.default({}),
  liveness: livenessSchema.optional(),
  loadBalancer: loadBalancerSchema.optional(),
  weight: integerField('weight', 0, Limits.weightMax).optional(),
  metadata: labelsSchema.optional(),
  upstreams: z.array(upstreamSchema, { invalid_type_error: 'upstreams must be a list of service names or { service, port }' }).default([]),
  readyTimeout: durationField('readyTimeout', 100, 600_000).optional(),
  mtls: mtlsSchema.optional(),
  /** Named routes (the `route` label of metrics): inbound at its replicas, outbound at its callers. */
  routes: routesSchema.optional(),
}, { invalid_type_error: 'each service must be a map with at least command' }).strict();

export const meshFileSchema = z.object({
  controlPlane: controlPlaneSchema.optional(),
  /** The mesh's mTLS mode (a service's own mtls wins); default strict. */
  mtls: mtlsSchema.default(DEFAULT_MTLS_MODE),
  services: z.record(serviceNameSchema, serviceSchema, {
    required_error: 'services is required: a map of service names to { replicas, command, ... }',
    invalid_type_error: 'services must be a map of service names to { replicas, command, ... }',
  }),
}, {
  required_error: 'the mesh file is empty: declare services: { NAME: { command: [...] } }',
  invalid_type_error: 'a mesh file must be a map with services (and optionally controlPlane)',
}).strict()
  .superRefine((mesh, ctx) => {
    const names = serviceNames(mesh);
    if (names.length === 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['services'], message: 'services must declare at least one service' });
    const exposedBy = new Map<number, string>();
    const portOwner = new Map<string, string>();
    for (const [name, service] of Object.entries(mesh.services)) {
      service.ports.forEach((extra, i) => {
        const other = mesh.services[extra.service] !== undefined ? extra.service : portOwner.get(extra.service);
        if (other !== undefined) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['services', name, 'ports', i, 'service'], message: `${extra.service} is already ${other === extra.service ? 'a service of this file' : `a port of ${other}`}: give each port a service name of its own` });
        }
        portOwner.set(extra.service, name);
        if (extra.service.length > MAX_SERVICE_NAME) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['services', name, 'ports', i, 'service'], message: `service names may have at most ${MAX_SERVICE_NAME} characters (instance ids add "-<n>")` });
        }
        if (extra.targetPort === service.targetPort) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['services', name, 'ports', i, 'targetPort'], message: `${extra.targetPort} is already ${name}'s own targetPort: each port of the app is registered once` });
        }
        if (extra.port !== undefined) {
          const taken = exposedBy.get(extra.port);
          if (taken !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['services', name, 'ports', i, 'port'], message: `${extra.port} is already the port of ${taken}: give each service its own` });
          exposedBy.set(extra.port, extra.service);
        }
      });
      if (name.length > MAX_SERVICE_NAME) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['services', name], message: `service names may have at most ${MAX_SERVICE_NAME} characters (instance ids add "-<n>")` });
      }
      if (service.port !== undefined) {
        const other = exposedBy.get(service.port);
        if (other !== undefined) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['services', name, 'port'], message: `${service.port} is already the port of ${other}: give each service its own` });
        }
        exposedBy.set(service.port, name);
      }
      const envPort = service.env?.['PORT'];
      if (envPort !== undefined) {
        if (!/^\d{1,5}$/.test(envPort) || Number(envPort) < 1 || Number(envPort) > 65_535) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['services', name, 'env', 'PORT'], message: `PORT must be a port number (1-65535), not ${JSON.stringify(envPort)}: or remove it, and the app gets a free port in $PORT` });
        } else if (service.targetPort !== undefined && Number(envPort) !== service.targetPort) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['services', name, 'env', 'PORT'], message: `PORT is ${envPort} but targetPort is ${service.targetPort}: the app gets one port; keep one of them` });
        }
      }
      const fixedPort = service.targetPort ?? (envPort === undefined ? undefined : Number(envPort)) ?? service.ports[0]?.targetPort;
      if (fixedPort !== undefined && service.replicas > 1 && service.network === 'host') {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['services', name, 'network'], message: `${service.replicas} replicas cannot all listen on port ${fixedPort} on the host network: remove network: host (each replica then gets a network namespace of its own) or let the app take its port from $PORT` });
      }
      service.upstreams.forEach((upstream, i) => {
        const unknown = unknownUpstream(upstream.service, names);
        if (unknown !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['services', name, 'upstreams', i], message: unknown });
        if (upstream.port !== undefined && service.replicas > 1) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['services', name, 'upstreams', i, 'port'], message: `a fixed local port cannot be shared by ${service.replicas} replicas: remove it (each replica gets a free port, see TRELLIS_UPSTREAM_*)` });
        }
      });
    }
  });

/** Every service name a mesh file registers: its services and their other ports' services. */
export function serviceNames(mesh: { readonly services: Readonly<Record<string, { readonly ports?: ReadonlyArray<{ readonly service: string }> }>> }): string[] {
  return Object.entries(mesh.services).flatMap(([name, service]) => [name, ...(service.ports ?? []).map((p) => p.service)]);
}

/** Why `upstream` is not one of the file's services (with the closest name), or undefined when it is. */
export function unknownUpstream(upstream: string, names: readonly string[]): string | undefined {
  if (names.includes(upstream)) return undefined;
  return `upstream ${JSON.stringify(upstream)} is not a service declared in this file (declared: ${names.join(', ')})${didYouMean(upstream, names)}`;
}

/**
 * The upstream references of a mesh file that failed its schema, read from the raw value: zod
 * runs the cross-field checks only on a valid file, and a misspelt upstream is worth reporting
 * with the other errors, not on the next run.
 */
export function unknownUpstreamsIn(raw: unknown): Array<[Array<string | number>, string]> {
  const services = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)['services'] : undefined;
  if (typeof services !== 'object' || services === null || Array.isArray(services)) return [];
  const names = Object.entries(services).flatMap(([name, service]) => {
    const ports = typeof service === 'object' && service !== null ? (service as Record<string, unknown>)['ports'] : undefined;
    return [name, ...(Array.isArray(ports) ? ports.flatMap((p: unknown) => {
      const named = typeof p === 'object' && p !== null ? (p as Record<string, unknown>)['service'] : undefined;
      return typeof named === 'string' ? [named] : [];
    }) : [])];
  });
  return Object.entries(services).flatMap(([name, service]) => {
    const upstreams = typeof service === 'object' && service !== null ? (service as Record<string, unknown>)['upstreams'] : undefined;
    if (!Array.isArray(upstreams)) return [];
    return upstreams.flatMap((upstream: unknown, i): Array<[Array<string | number>, string]> => {
      const target = typeof upstream === 'string' ? upstream
        : typeof upstream === 'object' && upstream !== null && typeof (upstream as Record<string, unknown>)['service'] === 'string' ? String((upstream as Record<string, unknown>)['service']) : undefined;
      const unknown = target === undefined ? undefined : unknownUpstream(target, names);
      return unknown === undefined ? [] : [[['services', name, 'upstreams', i], unknown]];
    });
  });
}

export type MeshFile = z.output<typeof meshFileSchema>;
export type ServiceDeclaration = MeshFile['services'][string];
export type UpstreamDeclaration = ServiceDeclaration['upstreams'][number];
export type PortDeclaration = ServiceDeclaration['ports'][number];

/** The fields a map in the mesh file may have, by its path (for "did you mean"); [] where unknown. */
export function fieldsAt(path: readonly (string | number)[]): readonly string[] {
  if (path.length === 0) return Object.keys(meshFileSchema.innerType().shape);
  if (path.length === 1 && path[0] === 'controlPlane') return Object.keys(controlPlaneSchema.shape);
  if (path.length === 2 && path[0] === 'services') return Object.keys(serviceSchema.shape);
  if (path.length === 3 && path[0] === 'services' && path[2] === 'health') return Object.keys(healthSchema.shape);
  return [];
}
