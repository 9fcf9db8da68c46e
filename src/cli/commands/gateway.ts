/**
 * `trellis gateway --config gateway.yaml` — the mesh's edge proxy (src/gateway): HTTP and
 * HTTPS listeners (TLS terminated, SNI, certificates reloaded on change), host + path routes
 * attached to it, JWT and API-key authentication, CORS, size limits; it calls mesh services
 * as a mesh client with its own identity. `trellis gateway hash-key` prints the SHA-256 an
 * API key is stored as (the key is read from stdin, never from argv).
 */
import type { Command } from 'commander';
import { readEnvironment } from '../../config/env.js';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { createLogger } from '../../telemetry/logger.js';
import { CONTROL_PLANE_CA_FLAG, CONTROL_PLANE_CA_HELP, readControlPlaneCa, readToken } from '../options.js';

interface GatewayFlags { config: string; tokenFile?: string; controlPlaneCa?: string; logLevel?: string }

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export function gatewayCommand(program: Command): void {
  const env = readEnvironment();
  const gateway = program.command('gateway')
    .description('run the edge gateway: TLS termination, host/path routes, JWT and API keys, CORS, into the mesh with its own identity')
    .requiredOption('--config <file>', 'the gateway config (YAML): name, controlPlane, upstreams, listeners, authentication, cors, limits')
    .option('--token-file <file>', 'a join token for the gateway\'s name (else TRELLIS_TOKEN)')
    .option(CONTROL_PLANE_CA_FLAG, CONTROL_PLANE_CA_HELP)
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (env TRELLIS_LOG_LEVEL)', env.logLevel)
    .action(async (flags: GatewayFlags) => {
      const { readConfigFile } = await import('../../proxy/config-file.js');
      const { parseGatewayConfig } = await import('../../gateway/config.js');
      const { startGateway } = await import('../../gateway/gateway.js');
      const file = await readConfigFile(flags.config);
      const logger = createLogger({ level: flags.logLevel ?? 'info', name: 'trellis-gateway' });
      let running;
      try {
        const config = parseGatewayConfig(file.value);
        const ca = readControlPlaneCa(flags.controlPlaneCa);
        const token = readToken(flags.tokenFile);
        if (token === undefined) throw new TrellisError(ErrorCodes.TOKEN_MISSING, `the gateway needs a join token for ${config.name}: \`trellis token create --service ${config.name}\`, in TRELLIS_TOKEN or --token-file`);
        const starting = setInterval(() => undefined, 60_000);
        running = await startGateway({ config: ca === undefined || config.controlPlaneCa !== undefined ? config : { ...config, controlPlaneCa: ca }, token, logger })
          .finally(() => clearInterval(starting));
      } catch (err) {
        throw file.locate(err);
      }
      const gw = running;
      process.stdout.write(`${JSON.stringify({ gateway: 'serving', listeners: gw.addresses })}\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => { void gw.close().then(resolve, resolve); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
  gateway.command('hash-key')
    .description('print the sha256 an API key is configured as (reads the key from stdin)')
    .action(async () => {
      const { hashApiKey } = await import('../../gateway/api-keys.js');
      const key = await readStdin();
      if (key === '') throw new TrellisError(ErrorCodes.BAD_FLAG, 'give the API key on stdin: printf %s "$KEY" | trellis gateway hash-key');
      process.stdout.write(`${hashApiKey(key)}\n`);
    });
}
