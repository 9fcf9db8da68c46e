/**
 * The sidecar's configuration (`trellis proxy --config FILE`, flags, or `startSidecar`):
 * one schema, validated once at start-up, defaults filled in, frozen. Errors are
 * TrellisError VALIDATION naming the field (`upstreams.1.port`); the file loader adds
 * the file and line.
 *
 *     service: payments            # this instance's service (a DNS label)
 *     id: payments-1               # default: payments-<random>
 *     controlPlane: http://127.0.0.1:7700
 *     app: { port: 8080, host: 127.0.0.1, protocol: http,      # http | http2 | grpc | tcp
 *            health: { http: /healthz, interval: 1s } }   # omit app for an outbound-only sidecar
 *     inbound: { listen: 127.0.0.1:0, advertise: 127.0.0.1 }
 *     outbound: { listen: 127.0.0.1:0 }
 *     weight: 1
 *     metadata: { version: v2 }
 *     ttl: 10s                     # heartbeat TTL; heartbeats every ttl/3 while the app passes (the presence stream is the fast path)
 *     drainTimeout: 10s            # in-flight requests get this long on SIGTERM / drain()
 *     connectTimeout: 5s
 *     http: { maxHeaderSize: 16384, headersTimeout: 10s, requestTimeout: 5m,
 *             keepAliveTimeout: 5s, replayBuffer: 65536 }
 *     mtls: { mode: strict, certificateLifetime: 24h, namespace: default }   # strict | permissive | off (docs/security.md)
 *     admin: { listen: 127.0.0.1:0 }                # /metrics (Prometheus), /status, /ready
 *     telemetry: { metrics: true, accessLog: off, report: 1s }   # accessLog: off | stdout | stderr | FILE
 *       # otlp: { endpoint: http://127.0.0.1:4318/v1/traces, headers: {}, sampleRatio: 0.1 }   # span export (docs/observability.md)
 *     routes:                      # this service's routes: the `route` label of inbound metrics (docs/observability.md)
 *       - { name: get-order, method: GET, path: /orders/ }
 *     upstreams:                   # the services this sidecar calls — and only those are watched
 *       - service: ledger          # by HTTP proxy / Host header only
 *       - { service: db, port: 9192, protocol: tcp }
 *       - { service: ledger-rpc, port: 9194, protocol: grpc }   # h2c on the local port and to the peer
 *       - { service: search, port: 9193, loadBalancer: peak-ewma, timeout: 2s, retry: { maxAttempts: 2 } }
 *       - { service: orders, routes: [{ name: get-order, method: GET, path: /orders/ }] }   # outbound route label
 *
 * Everything in an upstream besides service, port, protocol and routes is its policy (policy.ts).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { DEFAULT_CONTROL_PLANE } from '../config/env.js';
import { ErrorCodes, TrellisError } from '../errors.js';
import type { ActiveCheckSpec } from '../core/health.js';
import { Limits } from '../registry/limits.js';
import { instanceIdSchema, serviceNameSchema } from '../registry/schema.js';
import type { HostPort } from '../util/host-port.js';
import { durationField, integerField, parseOrThrow, hostPortField } from '../util/validation.js';
import { DEFAULT_REPLAY_BUFFER_BYTES } from './body.js';
import { parseUpstreamPolicy } from './policy.js';
import type { UpstreamPolicy } from './types.js';
import { DEFAULT_MTLS_MODE, MTLS_MODES } from '../security/mtls/mode.js';
import type { MtlsConfig } from '../security/mtls/sidecar-tls.js';
import { DEFAULT_NAMESPACE } from '../security/spiffe.js';
import { DEFAULT_SAMPLE_RATIO, type OtlpConfig } from '../telemetry/otlp.js';
import { routesSchema, type RouteDeclaration } from '../telemetry/routes.js';

const HOUR_MS = 3_600_000;


/** What an app or an upstream speaks: HTTP/1.1, HTTP/2 cleartext (h2c, prior knowledge), gRPC (h2c too), raw TCP. */
export const PROTOCOLS = ['http', 'http2', 'grpc', 'tcp'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** http2 and grpc are both h2c on the wire (grpc only names the intent). */
export function speaksHttp2(protocol: Protocol): boolean {
  return protocol === 'http2' || protocol === 'grpc';
}

const protocolField = (name: string) => z.enum(PROTOCOLS, {
  errorMap: () => ({ message: `${name} must be "http", "http2", "grpc" or "tcp"` }),
});

const healthSchema = z.object({
  http: z.string({ invalid_type_error: 'http must be a path such as /healthz' })
    .regex(/^\/[\x21-\x7e]*$/, 'http must be a path starting with "/", such as /healthz').optional(),
  tcp: z.literal(true, { errorMap: () => ({ message: 'tcp must be true (a TCP connect to the app port)' }) }).optional(),
  interval: durationField('interval', Limits.checkIntervalMinMs, Limits.checkIntervalMaxMs).default('1s'),
  timeout: durationField('timeout', Limits.checkTimeoutMinMs, Limits.checkIntervalMaxMs).default('1s'),
  failuresBeforeCritical: integerField('failuresBeforeCritical', 1, Limits.thresholdMax).default(1),
  successesBeforePassing: integerField('successesBeforePassing', 1, Limits.thresholdMax).default(1),
}, { invalid_type_error: 'health must be a map such as { http: /healthz, interval: 1s }' }).strict()
  .refine((h) => !(h.http !== undefined && h.tcp !== undefined), { message: 'health takes http or tcp, not both', path: ['tcp'] });

const appSchema = z.object({
  port: integerField('port', 1, 65_535),
  host: z.string({ invalid_type_error: 'host must be an address such as 127.0.0.1' }).min(1).default('127.0.0.1'),
  protocol: protocolField('protocol').default('http'),
  health: healthSchema.optional(),
}, { invalid_type_error: 'app must be a map such as { port: 8080 }' }).strict();

const httpSchema = z.object({
  maxHeaderSize: integerField('maxHeaderSize', 1_024, 1_048_576).default(16_384),
  headersTimeout: durationField('headersTimeout', 100, HOUR_MS).default('10s'),
  requestTimeout: durationField('requestTimeout (0 = none)', 0, 24 * HOUR_MS).default('5m'),
  keepAliveTimeout: durationField('keepAliveTimeout', 100, HOUR_MS).default('5s'),
  replayBuffer: integerField('replayBuffer', 0, 16 * 1_048_576).default(DEFAULT_REPLAY_BUFFER_BYTES),
  /** A response body from an upstream that sends no byte for this long fails (UPSTREAM_TIMEOUT). */
  bodyIdleTimeout: durationField('bodyIdleTimeout', 100, 24 * HOUR_MS).default('60s'),
  /** raw: HTTP/1.1 on raw sockets parsed by llhttp (default); node: node:http + undici (the former path, while the raw one is proven). */
  engine: z.enum(['raw', 'node'], { errorMap: () => ({ message: 'http.engine must be raw (the default) or node' }) }).default('raw'),
}, { invalid_type_error: 'http must be a map such as { maxHeaderSize: 16384 }' }).strict()
  .refine((h) => h.requestTimeout === 0 || h.headersTimeout <= h.requestTimeout, {
    message: 'headersTimeout must not be longer than requestTimeout', path: ['headersTimeout'],
  });

/** An upstream: its own fields here; the rest is its policy, checked by parseUpstreamPolicy. */
const upstreamSchema = z.preprocess(
  (raw) => (typeof raw === 'string' ? { service: raw } : raw),
  z.object({
    service: serviceNameSchema,
    port: integerField('port', 0, 65_535).optional(),
    protocol: protocolField('protocol').default('http'),
    routes: routesSchema,
  }, { invalid_type_error: 'each upstream must be a service name or a map such as { service: payments, port: 9191 }' }).passthrough(),
);

const configSchema = z.object({
  service: serviceNameSchema,
  id: instanceIdSchema.optional(),
  controlPlane: z.string({ invalid_type_error: 'controlPlane must be a URL such as http://127.0.0.1:7700' })
    .refine((value) => value.split(',').every((url) => URL.canParse(url.trim())),
      'controlPlane must be a URL such as http://127.0.0.1:7700, or several replicas separated by commas')
    .default(DEFAULT_CONTROL_PLANE),
  app: appSchema.optional(),
  inbound: z.object({
    listen: hostPortField('listen').default('127.0.0.1:0'),
    advertise: z.string({ invalid_type_error: 'advertise must be the address other sidecars reach this one at' }).min(1).optional(),
  }, { invalid_type_error: 'inbound must be a map such as { listen: 127.0.0.1:15006 }' }).strict().default({}),
  outbound: z.object({
    listen: hostPortField('listen').default('127.0.0.1:0'),
  }, { invalid_type_error: 'outbound must be a map such as { listen: 127.0.0.1:15001 }' }).strict().default({}),
  weight: integerField('weight', 0, Limits.weightMax).default(1),
  metadata: z.record(z.string({ invalid_type_error: 'metadata values must be strings (quote numbers: "3")' }), {
    invalid_type_error: 'metadata must be a map of string labels such as { version: v2 }',
  }).default({}),
  // 3 heartbeats per TTL and room for a CPU-starved sidecar to miss two: a dead sidecar is seen
  // at once by its dropped presence stream, so the TTL is only the backstop for a silent one.
  ttl: durationField('ttl', Limits.ttlMinMs, Limits.ttlMaxMs).default('10s'),
  drainTimeout: durationField('drainTimeout', 0, HOUR_MS).default('10s'),
  connectTimeout: durationField('connectTimeout', 10, 10 * 60_000).default('5s'),
  http: httpSchema.default({}),
  mtls: z.object({
    mode: z.enum(MTLS_MODES, { errorMap: () => ({ message: 'mode must be "strict", "permissive" or "off"' }) }).default(DEFAULT_MTLS_MODE),
    certificateLifetime: durationField('certificateLifetime', 1_000, 365 * 24 * HOUR_MS).default('24h'),
    namespace: z.string({ invalid_type_error: 'namespace must be a name such as default' })
      .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'namespace must be lower-case letters, digits and dashes, such as default').default(DEFAULT_NAMESPACE),
  }, { invalid_type_error: 'mtls must be a map such as { mode: strict }' }).strict().default({}),
  admin: z.object({
    listen: hostPortField('listen').default('127.0.0.1:0'),
  }, { invalid_type_error: 'admin must be a map such as { listen: 127.0.0.1:4191 }' }).strict().default({}),
  telemetry: z.object({
    metrics: z.boolean({ invalid_type_error: 'metrics must be true or false' }).default(true),
    accessLog: z.string({ invalid_type_error: 'accessLog must be off, stdout, stderr or a file path' }).min(1, 'accessLog must be off, stdout, stderr or a file path').default('off'),
    report: durationField('report (how often metrics go to the control plane; 0 = never)', 0, HOUR_MS).default('1s'),
    otlp: z.object({
      endpoint: z.string({ required_error: 'otlp.endpoint is required: the OTLP/HTTP traces URL, such as http://127.0.0.1:4318/v1/traces', invalid_type_error: 'otlp.endpoint must be a URL such as http://127.0.0.1:4318/v1/traces' })
        .url('otlp.endpoint must be an http(s) URL such as http://127.0.0.1:4318/v1/traces (the collector\'s OTLP/HTTP traces path)')
        .refine((u) => /^https?:\/\//.test(u), 'otlp.endpoint must be an http:// or https:// URL (OTLP/HTTP protobuf; gRPC is not spoken)'),
      headers: z.record(z.string({ invalid_type_error: 'otlp.headers values must be strings' }), { invalid_type_error: 'otlp.headers must be a map such as { x-api-key: KEY }' }).default({}),
      sampleRatio: z.number({ invalid_type_error: 'otlp.sampleRatio must be a number from 0 to 1, such as 0.1 (the share of the traces a sidecar starts that are sampled)' })
        .min(0, 'otlp.sampleRatio must be from 0 to 1, such as 0.1').max(1, 'otlp.sampleRatio must be from 0 to 1, such as 0.1 (1 samples every trace the sidecar starts)')
        .default(DEFAULT_SAMPLE_RATIO),
    }, { invalid_type_error: 'otlp must be a map such as { endpoint: http://127.0.0.1:4318/v1/traces }' }).strict().optional(),
  }, { invalid_type_error: 'telemetry must be a map such as { metrics: true, accessLog: stdout }' }).strict().default({}),
  upstreams: z.array(upstreamSchema, { invalid_type_error: 'upstreams must be a list such as [payments, { service: db, port: 9192, protocol: tcp }]' }).default([]),
  routes: routesSchema,
}, { invalid_type_error: 'the sidecar config must be a map with at least service' }).strict();

/** The config as written (YAML, flags, or an object given to startSidecar). */
export type SidecarConfigInput = z.input<typeof configSchema>;

export interface UpstreamConfig {
  readonly service: string;
  /** A local port for this service only (0 = any free port); absent = reached through the outbound listener. */
  readonly listen: HostPort | undefined;
  readonly protocol: Protocol;
  /** Its policy from this entry alone (over the built-in defaults). */
  readonly policy: UpstreamPolicy;
  /** The policy fields this entry sets, as written: they override the control plane's service defaults field by field. */
  readonly overrides: Readonly<Record<string, unknown>>;
  /** The upstream's routes: the `route` label of outbound metrics to it. */
  readonly routes: readonly RouteDeclaration[];
}

export interface AppConfig {
  readonly host: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** The local check that gates heartbeats. Default: a TCP connect every second. */
  readonly health: ActiveCheckSpec;
}

export interface HttpLimitsConfig {
  readonly maxHeaderSize: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly replayBufferBytes: number;
  readonly bodyIdleTimeoutMs: number;
  /** HTTP/1.1 carrier: `raw` (net/tls + llhttp, src/proxy/http1/connection.ts) or `node` (node:http + undici). */
  readonly engine: 'raw' | 'node';
}

/** The validated, frozen config. */
export interface SidecarConfig {
  readonly service: string;
  readonly id: string;
  readonly controlPlane: string;
  readonly app: AppConfig | undefined;
  readonly inbound: { readonly listen: HostPort; readonly advertise: string };
  readonly outbound: { readonly listen: HostPort };
  readonly weight: number;
  readonly metadata: Readonly<Record<string, string>>;
  readonly ttlMs: number;
  readonly drainTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly http: HttpLimitsConfig;
  readonly mtls: MtlsConfig;
  readonly upstreams: readonly UpstreamConfig[];
  /** This service's routes: the `route` label of inbound metrics. */
  readonly routes: readonly RouteDeclaration[];
  /** The admin listener: /metrics, /status, /ready. */
  readonly admin: { readonly listen: HostPort };
  readonly telemetry: TelemetryConfig;
}

export interface TelemetryConfig {
  /** Count requests (the metrics layer); off for a benchmark reference only. */
  readonly metrics: boolean;
  /** 'off', 'stdout', 'stderr' or a file path. */
  readonly accessLog: string;
  /** How often a report goes to the control plane, ms (0 = never). */
  readonly reportMs: number;
  /** OTLP/HTTP protobuf export of each hop's span (src/telemetry/otlp.ts); undefined = off. */
  readonly otlp: OtlpConfig | undefined;
}


const UPSTREAM_OWN_FIELDS = new Set(['service', 'port', 'protocol', 'routes']);

function healthSpec(health: z.output<typeof healthSchema> | undefined): ActiveCheckSpec {
  const common = {
    intervalMs: health?.interval ?? 1_000,
    timeoutMs: Math.min(health?.timeout ?? 1_000, health?.interval ?? 1_000),
    failuresBeforeCritical: health?.failuresBeforeCritical ?? 1,
    successesBeforePassing: health?.successesBeforePassing ?? 1,
    initialStatus: 'critical' as const,
  };
  return health?.http === undefined ? { type: 'tcp', ...common } : { type: 'http', path: health.http, method: 'GET', ...common };
}

function defaultId(service: string): string {
  return `${service.slice(0, Limits.nameMaxLength - 7)}-${randomBytes(3).toString('hex')}`;
}

function advertised(listen: HostPort, advertise: string | undefined): string {
  if (advertise !== undefined) return advertise;
  // A wildcard bind is reachable on loopback at least; set advertise for other machines.
  return listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host;
}

function upstreamConfigs(raw: ReadonlyArray<z.output<typeof upstreamSchema>>, listenHost: string): UpstreamConfig[] {
  const seenServices = new Map<string, number>();
  const seenPorts = new Map<number, number>();
  return raw.map((entry, index) => {
    const field = `upstreams.${index}`;
    const previous = seenServices.get(entry.service);
    if (previous !== undefined) {
      throw new TrellisError(ErrorCodes.VALIDATION, `upstream ${JSON.stringify(entry.service)} is listed twice (also upstreams.${previous}): merge the two entries`, { field: `${field}.service` });
    }
    seenServices.set(entry.service, index);
    if (entry.port !== undefined && entry.port !== 0) {
      const other = seenPorts.get(entry.port);
      if (other !== undefined) {
        throw new TrellisError(ErrorCodes.VALIDATION, `port ${entry.port} is already the port of upstreams.${other}: give each upstream its own`, { field: `${field}.port` });
      }
      seenPorts.set(entry.port, index);
    }
    if (entry.protocol === 'tcp' && entry.port === undefined) {
      throw new TrellisError(ErrorCodes.VALIDATION, `a tcp upstream needs a local port (raw TCP carries no service name): add port to upstream ${JSON.stringify(entry.service)}`, { field: `${field}.port` });
    }
    const policyFields = Object.fromEntries(Object.entries(entry).filter(([key]) => !UPSTREAM_OWN_FIELDS.has(key)));
    return Object.freeze({
      service: entry.service,
      listen: entry.port === undefined ? undefined : Object.freeze({ host: listenHost, port: entry.port }),
      protocol: entry.protocol,
      policy: parseUpstreamPolicy(policyFields, field),
      overrides: Object.freeze(policyFields),
      routes: Object.freeze(entry.routes.map((route) => Object.freeze({ ...route }))),
    });
  });
}

/** Validate a sidecar config. @throws TrellisError VALIDATION naming the field. */
export function parseSidecarConfig(input: unknown): SidecarConfig {
  const raw = parseOrThrow(configSchema, input, '', (key) => `unknown field ${JSON.stringify(key)}: remove it or fix its spelling (see docs/proxy.md)`);
  const app: AppConfig | undefined = raw.app === undefined ? undefined : Object.freeze({
    host: raw.app.host,
    port: raw.app.port,
    protocol: raw.app.protocol,
    health: Object.freeze(healthSpec(raw.app.health)),
  });
  return Object.freeze({
    service: raw.service,
    id: raw.id ?? defaultId(raw.service),
    controlPlane: raw.controlPlane,
    app,
    inbound: Object.freeze({ listen: raw.inbound.listen, advertise: advertised(raw.inbound.listen, raw.inbound.advertise) }),
    outbound: Object.freeze({ listen: raw.outbound.listen }),
    weight: raw.weight,
    metadata: Object.freeze({ ...raw.metadata }),
    ttlMs: raw.ttl,
    drainTimeoutMs: raw.drainTimeout,
    connectTimeoutMs: raw.connectTimeout,
    http: Object.freeze({
      maxHeaderSize: raw.http.maxHeaderSize,
      headersTimeoutMs: raw.http.headersTimeout,
      requestTimeoutMs: raw.http.requestTimeout,
      keepAliveTimeoutMs: raw.http.keepAliveTimeout,
      replayBufferBytes: raw.http.replayBuffer,
      bodyIdleTimeoutMs: raw.http.bodyIdleTimeout,
      engine: raw.http.engine,
    }),
    mtls: Object.freeze({ mode: raw.mtls.mode, namespace: raw.mtls.namespace, certificateLifetimeMs: raw.mtls.certificateLifetime }),
    upstreams: Object.freeze(upstreamConfigs(raw.upstreams, raw.outbound.listen.host)),
    routes: Object.freeze(raw.routes.map((route) => Object.freeze({ ...route }))),
    admin: Object.freeze({ listen: raw.admin.listen }),
    telemetry: Object.freeze({
      metrics: raw.telemetry.metrics, accessLog: raw.telemetry.accessLog, reportMs: raw.telemetry.report,
      otlp: raw.telemetry.otlp === undefined ? undefined : Object.freeze({ endpoint: raw.telemetry.otlp.endpoint, headers: Object.freeze({ ...raw.telemetry.otlp.headers }), sampleRatio: raw.telemetry.otlp.sampleRatio }),
    }),
  });
}
