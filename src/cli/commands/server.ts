import type { Command } from 'commander';
import { DEFAULT_DNS, DEFAULT_LISTEN, readEnvironment } from '../../config/env.js';
import { createLogger } from '../../telemetry/logger.js';
import { parseHostPort } from '../../util/host-port.js';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { checkStoreFlag, type EtcdSettings } from '../../store/selection.js';
import { intArg } from '../options.js';

interface ServerOptions {
  dataDir: string;
  store: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPrefix?: string;
  replicaId?: string;
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
    .option('--store <embedded|etcd://h1:2379,h2:2379,…>', 'the store: embedded SQLite in --data-dir, or an etcd cluster (env TRELLIS_STORE)', env.store)
    .option('--etcd-ca <file>', 'CA bundle for etcd members with TLS (https)')
    .option('--etcd-cert <file>', 'client certificate for etcd (with --etcd-key)')
    .option('--etcd-key <file>', 'client key for etcd (with --etcd-cert)')
    .option('--etcd-user <name>', 'etcd user; the password comes from env TRELLIS_ETCD_PASSWORD')
    .option('--etcd-prefix <prefix>', 'key prefix inside etcd (default /trellis)')
    .option('--replica-id <id>', "this control plane's name among replicas on one store (default host-pid-random)")
    .option('--listen <host:port>', 'HTTP API address', DEFAULT_LISTEN)
    .option('--dns <host:port|off>', 'DNS address (UDP and TCP), or "off"', DEFAULT_DNS)
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (env TRELLIS_LOG_LEVEL)', env.logLevel)
    .option('--min-check-interval <ms>', 'active checks never run more often than this (default 100)', intArg('--min-check-interval', 1, 3_600_000))
    .option('--watch-keepalive <ms>', 'keep-alive interval on idle watch streams (default 15000)', intArg('--watch-keepalive', 10, 3_600_000))
    .action(async (options: ServerOptions) => {
      const listen = parseHostPort(options.listen, '--listen');
      const dns = options.dns === 'off' ? false : parseHostPort(options.dns, '--dns');
      const etcd = etcdSettings(options, env.etcdPassword);
      checkStoreFlag(options.store);
      const logger = createLogger({ level: options.logLevel, name: 'trellis-server' });
      // Loaded here, not at the top: every CLI command would otherwise pay for the server's modules.
      const { startControlPlane } = await import('../../control-plane/server.js');
      const controlPlane = await startControlPlane({
        dataDir: options.dataDir,
        store: options.store,
        etcd,
        ...(options.replicaId === undefined ? {} : { replica: { id: options.replicaId } }),
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

function etcdSettings(options: ServerOptions, password: string | undefined): EtcdSettings {
  if ((options.etcdCert !== undefined || options.etcdKey !== undefined) && options.etcdCa === undefined) {
    throw new TrellisError(ErrorCodes.BAD_FLAG, '--etcd-cert and --etcd-key need --etcd-ca (the CA that signed the etcd members)', { field: 'etcd-ca' });
  }
  if (options.etcdUser !== undefined && password === undefined) {
    throw new TrellisError(ErrorCodes.BAD_FLAG, '--etcd-user needs its password in the environment: set TRELLIS_ETCD_PASSWORD', { field: 'etcd-user' });
  }
  return {
    ...(options.etcdCa === undefined ? {} : {
      tls: { ca: options.etcdCa, ...(options.etcdCert === undefined ? {} : { cert: options.etcdCert }), ...(options.etcdKey === undefined ? {} : { key: options.etcdKey }) },
    }),
    ...(options.etcdUser === undefined || password === undefined ? {} : { auth: { username: options.etcdUser, password } }),
    ...(options.etcdPrefix === undefined ? {} : { prefix: options.etcdPrefix }),
  };
}
