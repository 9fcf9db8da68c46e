/**
 * `trellis proxy` — run a sidecar: from a YAML config (--config), from flags, or both
 * (flags win). Prints a JSON "sidecar ready" line with the bound addresses on stdout;
 * SIGTERM / SIGINT drain it (a second signal closes at once).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { readEnvironment } from '../../config/env.js';
import { PROTOCOLS, parseSidecarConfig, type Protocol, type SidecarConfigInput } from '../../proxy/config.js';
import { createLogger } from '../../telemetry/logger.js';
import type { MtlsMode } from '../../security/mtls/mode.js';
import { CONTROL_PLANE_CA_FLAG, CONTROL_PLANE_CA_HELP, collectLabel, durationArg, intArg, mtlsModeArg, readControlPlaneCa, readToken } from '../options.js';

interface ProxyFlags {
  config?: string;
  service?: string;
  id?: string;
  controlPlane?: string;
  appPort?: number;
  appHost?: string;
  appProtocol?: Protocol;
  healthHttp?: string;
  healthInterval?: string;
  inbound?: string;
  advertise?: string;
  outbound?: string;
  upstream?: Array<Record<string, unknown>>;
  weight?: number;
  meta?: Record<string, string>;
  ttl?: string;
  drainTimeout?: string;
  maxHeaderSize?: number;
  headersTimeout?: string;
  mtls?: MtlsMode;
  certLifetime?: string;
  namespace?: string;
  tokenFile?: string;
  controlPlaneCa?: string;
  admin?: string;
  accessLog?: string;
  logLevel: string;
  wait?: boolean;
}

const UPSTREAM_FLAG = /^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?::(\d{1,5}))?(?:\/(http|http2|grpc|tcp))?$/;

/** --upstream SERVICE[:PORT][/http|http2|grpc|tcp], repeatable. */
function collectUpstream(value: string, previous: Array<Record<string, unknown>> = []): Array<Record<string, unknown>> {
  const match = UPSTREAM_FLAG.exec(value);
  if (match === null) {
    throw new InvalidArgumentError(`--upstream takes SERVICE[:PORT][/http2|grpc|tcp], e.g. payments, payments:9191, ledger:9193/grpc or db:5432/tcp (got ${JSON.stringify(value)}).`);
  }
  const [, service, port, protocol] = match;
  return [...previous, { service, ...(port === undefined ? {} : { port: Number(port) }), ...(protocol === undefined ? {} : { protocol }) }];
}

function protocolArg(value: string): Protocol {
  const protocol = PROTOCOLS.find((p) => p === value);
  if (protocol === undefined) throw new InvalidArgumentError(`--app-protocol must be one of ${PROTOCOLS.join(', ')}.`);
  return protocol;
}

function section(base: unknown, overlay: Record<string, unknown>): Record<string, unknown> | undefined {
  const defined = Object.fromEntries(Object.entries(overlay).filter(([, v]) => v !== undefined));
  if (Object.keys(defined).length === 0) return base === undefined ? undefined : base as Record<string, unknown>;
  return { ...(typeof base === 'object' && base !== null ? base : {}), ...defined };
}

/** The config: the file's, with the flags given laid over it. */
function configFrom(file: unknown, flags: ProxyFlags, envControlPlane: string): SidecarConfigInput {
  const base = (typeof file === 'object' && file !== null ? file : {}) as Record<string, unknown>;
  const health = section(
    (base['app'] as Record<string, unknown> | undefined)?.['health'],
    { http: flags.healthHttp, interval: flags.healthInterval },
  );
  const app = section(base['app'], { port: flags.appPort, host: flags.appHost, protocol: flags.appProtocol, health });
  const merged: Record<string, unknown> = {
    ...base,
    ...(flags.service === undefined ? {} : { service: flags.service }),
    ...(flags.id === undefined ? {} : { id: flags.id }),
    controlPlane: flags.controlPlane ?? base['controlPlane'] ?? envControlPlane,
    ...(app === undefined ? {} : { app }),
    ...(flags.weight === undefined ? {} : { weight: flags.weight }),
    ...(flags.meta === undefined ? {} : { metadata: { ...(base['metadata'] as Record<string, string> | undefined), ...flags.meta } }),
    ...(flags.ttl === undefined ? {} : { ttl: flags.ttl }),
    ...(flags.drainTimeout === undefined ? {} : { drainTimeout: flags.drainTimeout }),
    ...(flags.upstream === undefined ? {} : { upstreams: [...((base['upstreams'] as unknown[] | undefined) ?? []), ...flags.upstream] }),
  };
  const inbound = section(base['inbound'], { listen: flags.inbound, advertise: flags.advertise });
  if (inbound !== undefined) merged['inbound'] = inbound;
  const outbound = section(base['outbound'], { listen: flags.outbound });
  if (outbound !== undefined) merged['outbound'] = outbound;
  const http = section(base['http'], { maxHeaderSize: flags.maxHeaderSize, headersTimeout: flags.headersTimeout });
  if (http !== undefined) merged['http'] = http;
  const mtls = section(base['mtls'], { mode: flags.mtls, certificateLifetime: flags.certLifetime, namespace: flags.namespace });
  if (mtls !== undefined) merged['mtls'] = mtls;
  const admin = section(base['admin'], { listen: flags.admin });
  if (admin !== undefined) merged['admin'] = admin;
  const telemetry = section(base['telemetry'], { accessLog: flags.accessLog });
  if (telemetry !== undefined) merged['telemetry'] = telemetry;
  return merged as SidecarConfigInput;
}

export function proxyCommand(program: Command): void {
  const env = readEnvironment();
  program.command('proxy')
    .description('run a sidecar: inbound traffic to the local app, outbound calls to other services by name')
    .option('--config <file>', 'a YAML sidecar config (flags override it)')
    .option('--service <name>', "this instance's service")
    .option('--id <id>', 'instance id (default: <service>-<random>)')
    .option('--control-plane <url,…>', 'control plane URL, or several replicas separated by commas (env TRELLIS_CONTROL_PLANE)')
    .option(CONTROL_PLANE_CA_FLAG, CONTROL_PLANE_CA_HELP, env.controlPlaneCa)
    .option('--app-port <port>', 'the local app port (omit for an outbound-only sidecar)', intArg('--app-port', 1, 65535))
    .option('--app-host <host>', 'the local app address (default 127.0.0.1)')
    .option('--app-protocol <http|http2|grpc|tcp>', 'what the app speaks (default http; http2 and grpc are h2c)', protocolArg)
    .option('--health-http <path>', 'check the app with GET on this path (default: a TCP connect)')
    .option('--health-interval <duration>', 'app check interval (default 1s)', durationArg('--health-interval'))
    .option('--inbound <host:port>', 'inbound listener (default 127.0.0.1:0)')
    .option('--advertise <host>', 'address registered for the inbound listener (default: its host)')
    .option('--outbound <host:port>', 'outbound listener: HTTP proxy / Host header (default 127.0.0.1:0)')
    .option('--upstream <service[:port][/http2|grpc|tcp]>', 'a service this sidecar calls, repeatable; with a port, also on that local port', collectUpstream)
    .option('--weight <weight>', 'load-balancing weight, 0 = drained (default 1)', intArg('--weight', 0, 65535))
    .option('--meta <key=value>', 'a metadata label, repeatable', collectLabel)
    .option('--ttl <duration>', 'heartbeat TTL; heartbeats every ttl/3 (default 10s)', durationArg('--ttl'))
    .option('--drain-timeout <duration>', 'how long in-flight requests get on SIGTERM (default 10s)', durationArg('--drain-timeout'))
    .option('--max-header-size <bytes>', 'larger request headers get 431 (default 16384)', intArg('--max-header-size', 1024, 1_048_576))
    .option('--headers-timeout <duration>', 'clients slower to send their headers get 408 (default 10s)', durationArg('--headers-timeout'))
    .option('--mtls <strict|permissive|off>', 'mutual TLS between sidecars (default strict; docs/security.md)', mtlsModeArg)
    .option('--token-file <file>', 'a file holding the join token (default: env TRELLIS_TOKEN); never pass the token itself as a flag')
    .option('--cert-lifetime <duration>', 'lifetime asked for the workload certificate, renewed at 70% (default 24h)', durationArg('--cert-lifetime'))
    .option('--namespace <name>', "this workload's namespace in its SPIFFE ID (default default)")
    .option('--admin <host:port>', 'admin listener: /metrics, /status, /ready (default 127.0.0.1:0)')
    .option('--access-log <off|stdout|stderr|file>', 'one JSON line per request (default off)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (env TRELLIS_LOG_LEVEL)', env.logLevel)
    .option('--wait', 'when the control plane is not reachable, wait for it (retrying with back-off) instead of failing')
    .action(async (flags: ProxyFlags) => {
      // Loaded on use: a sidecar process must not carry the other commands' modules, nor they its.
      // The YAML parser only when there is a file: it is a few MB of a sidecar's memory.
      const { startSidecar } = await import('../../agent/sidecar.js');
      const file = flags.config === undefined ? undefined : await (await import('../../proxy/config-file.js')).readConfigFile(flags.config);
      const logger = createLogger({ level: flags.logLevel, name: 'trellis-proxy', sync: true });
      let sidecar;
      try {
        const token = readToken(flags.tokenFile);
        const controlPlaneCa = readControlPlaneCa(flags.controlPlaneCa);
        const config = configFrom(file?.value, flags, env.controlPlane);
        // A bad config is reported before the control plane is asked for.
        const { controlPlane } = parseSidecarConfig(config);
        const { reachControlPlane } = await import('../../run/control-plane-wait.js');
        await reachControlPlane(controlPlane, {
          wait: flags.wait === true, say: (line) => process.stderr.write(`trellis proxy: ${line}\n`),
          ...(controlPlaneCa === undefined ? {} : { controlPlaneCa }),
        });
        // Its retries are unref'd: hold the event loop while it starts (a silent exit 13 otherwise).
        const starting = setInterval(() => undefined, 60_000);
        sidecar = await startSidecar({
          config, logger,
          ...(token === undefined ? {} : { token }), ...(controlPlaneCa === undefined ? {} : { controlPlaneCa }),
        }).finally(() => clearInterval(starting));
      } catch (err) {
        throw file === undefined ? err : file.locate(err);
      }
      const running = sidecar;
      await new Promise<void>((resolve) => {
        let signals = 0;
        const stop = (signal: string): void => {
          signals += 1;
          logger.info({ signal }, signals === 1 ? 'draining on signal' : 'closing now');
          (signals === 1 ? running.drain() : running.close()).then(resolve, resolve);
        };
        process.on('SIGINT', () => stop('SIGINT'));
        process.on('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
