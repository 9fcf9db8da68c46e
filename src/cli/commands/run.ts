import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, type Command } from 'commander';
import { parseDuration } from '../../util/duration.js';
import { stderrLogger } from '../../run/stderr-logger.js';
import { RUN_DEFAULTS, type UpstreamSpec } from '../../run/types.js';
import type { MtlsMode } from '../../security/mtls/mode.js';
import { collectLabel, durationArg, intArg, mtlsModeArg, readControlPlaneCa, readToken, withClientOptions, type GlobalOptions } from '../options.js';

interface RunOptions extends GlobalOptions {
  service: string;
  port?: number;
  id?: string;
  upstream?: UpstreamSpec[];
  healthPath?: string;
  healthInterval?: string;
  weight?: number;
  meta?: Record<string, string>;
  readyTimeout: string;
  stopGrace: string;
  logLevel: string;
  mtls?: MtlsMode;
  tokenFile?: string;
  wait?: boolean;
}

const portArg = intArg('--upstream LOCALPORT', 1, 65_535);

/** --upstream SERVICE[:LOCALPORT], repeatable. */
function collectUpstream(value: string, previous: UpstreamSpec[] = []): UpstreamSpec[] {
  const [service = '', port, ...rest] = value.split(':');
  if (service === '' || rest.length > 0) throw new InvalidArgumentError(`--upstream takes SERVICE or SERVICE:LOCALPORT, e.g. --upstream payments:9191 (got ${JSON.stringify(value)}).`);
  return [...previous, { service, ...(port === undefined ? {} : { port: portArg(port) }) }];
}

export function runCommand(program: Command): void {
  withClientOptions(program.command('run').argument('<command...>', 'the app and its arguments, after --')
    .description('run an app with its sidecar: PORT for the app, registered once it is ready, gone when it exits')
    .usage('--service NAME [options] -- COMMAND [ARGS...]')
    .requiredOption('--service <name>', 'service the app is an instance of')
    .option('--port <port>', "the app's port, given in PORT (default: a free port)", intArg('--port', 1, 65_535))
    .option('--id <id>', 'instance id (default: <service>-<random>)')
    .option('--upstream <service[:localport]>', 'a service the app calls; its local port is in TRELLIS_UPSTREAM_<SERVICE> (repeatable)', collectUpstream)
    .option('--health-path <path>', 'ready and healthy when GET PATH answers 2xx (default: the port accepts connections)')
    .option('--health-interval <duration>', "how often the sidecar checks the app's health", durationArg('--health-interval'))
    .option('--weight <weight>', 'load-balancing weight, 0 = drained (default 1)', intArg('--weight', 0, 65_535))
    .option('--meta <key=value>', 'a metadata label, repeatable', collectLabel)
    .option('--ready-timeout <duration>', 'how long the app may take to get ready', durationArg('--ready-timeout'), `${RUN_DEFAULTS.readyTimeoutMs / 1000}s`)
    .option('--stop-grace <duration>', 'after SIGTERM, how long the app may take before SIGKILL', durationArg('--stop-grace'), `${RUN_DEFAULTS.stopGraceMs / 1000}s`)
    .option('--mtls <strict|permissive|off>', "the sidecar's mutual TLS (default strict; docs/security.md)", mtlsModeArg)
    .option('--token-file <file>', "a file holding the sidecar's join token (default: env TRELLIS_TOKEN, which the app does not see)")
    .option('--wait', 'when the control plane is not reachable, wait for it (retrying with back-off) instead of failing')
    .option('--log-level <level>', "the sidecar's log level (JSON lines on stderr)", 'warn'))
    .action(async (command: string[], options: RunOptions) => {
      const id = options.id ?? `${options.service}-${randomBytes(3).toString('hex')}`;
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      const { startInstance } = await import('../../run/run-instance.js'); // loaded on use
      const token = readToken(options.tokenFile);
      const controlPlaneCa = readControlPlaneCa(options.controlPlaneCa);
      const { reachControlPlane } = await import('../../run/control-plane-wait.js');
      await reachControlPlane(options.controlPlane, {
        wait: options.wait === true, signal: stop.signal, say: (line) => process.stderr.write(`trellis run: ${line}\n`),
        ...(controlPlaneCa === undefined ? {} : { controlPlaneCa }),
      });
      // Nothing else may hold the event loop while the sidecar starts (its retries are unref'd):
      // without this, a control plane lost meanwhile ended the process silently (exit 13).
      const starting = setInterval(() => undefined, 60_000);
      const instance = await startInstance({
        service: options.service,
        id,
        command,
        ...(options.port === undefined ? {} : { port: options.port }),
        ...(options.healthPath === undefined ? {} : { healthPath: options.healthPath }),
        ...(options.healthInterval === undefined ? {} : { healthIntervalMs: parseDuration(options.healthInterval) ?? 0 }),
        ...(options.weight === undefined ? {} : { weight: options.weight }),
        ...(options.meta === undefined ? {} : { metadata: options.meta }),
        upstreams: options.upstream ?? [],
        controlPlane: options.controlPlane,
        readyTimeoutMs: parseDuration(options.readyTimeout) ?? RUN_DEFAULTS.readyTimeoutMs,
        stopGraceMs: parseDuration(options.stopGrace) ?? RUN_DEFAULTS.stopGraceMs,
        ...(token === undefined ? {} : { token }),
        ...(controlPlaneCa === undefined ? {} : { controlPlaneCa }),
        ...(options.mtls === undefined ? {} : { mtlsMode: options.mtls }),
      }, {
        inheritedEnv: process.env,
        output: { stdout: process.stdout, stderr: process.stderr, ...(process.stdout.isTTY ? {} : { prefix: `[${id}] ` }) },
        logger: stderrLogger(options.logLevel, `trellis-run:${id}`),
        signal: stop.signal,
      }).finally(() => clearInterval(starting));
      const say = (text: string): void => { process.stderr.write(`${text}\n`); };
      if (!instance.ready) {
        if (options.json) process.stdout.write(`${JSON.stringify({ event: 'exited', id, code: instance.exitCode, ready: false })}\n`);
        else say(`trellis run: ${instance.message}`);
        process.exit(instance.exitCode);
      }
      const { info } = instance;
      const upstreams = Object.entries(info.upstreams).map(([s, p]) => `${s}→127.0.0.1:${p}`).join(' ');
      if (options.json) process.stdout.write(`${JSON.stringify({ event: 'ready', ...info })}\n`);
      else say(`trellis run: ${info.id} ready — app ${info.appHost}:${info.appPort} (pid ${info.appPid}), ${info.registered ? 'registered' : 'not registered yet, sidecar'} at ${info.inbound}, outbound ${info.outbound}${upstreams === '' ? '' : `, upstreams ${upstreams}`}, admin/metrics http://${info.admin}/metrics`);
      const code = await instance.finished;
      if (options.json) process.stdout.write(`${JSON.stringify({ event: 'exited', id: info.id, code })}\n`);
      else say(`trellis run: ${info.id} stopped (exit code ${code})`);
      // The app is gone and the sidecar drained: end now, whatever handle a library left open.
      process.exit(code);
    });
}
