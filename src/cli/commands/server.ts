import type { Command } from 'commander';
import { DEFAULT_DNS, DEFAULT_LISTEN, readEnvironment } from '../../config/env.js';
import { createLogger } from '../../telemetry/logger.js';
import { parseHostPort } from '../../util/host-port.js';
import { intArg } from '../options.js';

interface ServerOptions {
  dataDir: string;
  listen: string;
  dns: string;
  logLevel: string;
  minCheckInterval?: number;
  watchKeepalive?: number;
}

export function serverCommand(program: Command): void {
  const env = readEnvironment();
  program.command('server')
    .description('run the control plane: registry API, watch stream, health checks and DNS')
    .option('--data-dir <dir>', 'where the embedded store keeps its data (env TRELLIS_DATA_DIR)', env.dataDir)
    .option('--listen <host:port>', 'HTTP API address', DEFAULT_LISTEN)
    .option('--dns <host:port|off>', 'DNS address (UDP and TCP), or "off"', DEFAULT_DNS)
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (env TRELLIS_LOG_LEVEL)', env.logLevel)
    .option('--min-check-interval <ms>', 'active checks never run more often than this (default 100)', intArg('--min-check-interval', 1, 3_600_000))
    .option('--watch-keepalive <ms>', 'keep-alive interval on idle watch streams (default 15000)', intArg('--watch-keepalive', 10, 3_600_000))
    .action(async (options: ServerOptions) => {
      const listen = parseHostPort(options.listen, '--listen');
      const dns = options.dns === 'off' ? false : parseHostPort(options.dns, '--dns');
      const logger = createLogger({ level: options.logLevel, name: 'trellis-server' });
      // Loaded here, not at the top: every CLI command would otherwise pay for the server's modules.
      const { startControlPlane } = await import('../../control-plane/server.js');
      const controlPlane = await startControlPlane({
        dataDir: options.dataDir,
        listen,
        dns,
        logger,
        ...(options.minCheckInterval === undefined ? {} : { minCheckIntervalMs: options.minCheckInterval }),
        ...(options.watchKeepalive === undefined ? {} : { watchKeepAliveMs: options.watchKeepalive }),
      });
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          logger.info({ signal }, 'shutting down');
          controlPlane.close().then(resolve, resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
