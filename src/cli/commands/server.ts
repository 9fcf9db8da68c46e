import type { Command } from 'commander';
import { DEFAULT_DNS, DEFAULT_LISTEN, readEnvironment } from '../../config/env.js';
import { createLogger } from '../../telemetry/logger.js';
import { parseHostPort } from '../../util/host-port.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KEK_ENV } from '../../security/ca/key-encryption.js';
import { ADMIN_TOKEN_FILE } from '../../security/tokens/admin-token.js';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';
import type { ApiTls } from '../../control-plane/api/tls.js';
import type { SecurityOptions } from '../../security/control-plane.js';
import { TRUST_DOMAIN } from '../../security/spiffe.js';
import { parseDuration } from '../../util/duration.js';
import { checkStoreFlag, type EtcdSettings } from '../../store/selection.js';
import { durationArg, intArg } from '../options.js';
import { DEFAULT_LISTENER_LIMITS as LIMITS, listenerLimits, type ListenerLimits } from '../../control-plane/api/listener-limits.js';

function readPem(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new TrellisError(ErrorCodes.BAD_FLAG, `${flag}: cannot read ${file}: ${messageOf(err)}`, { field: flag.slice(2) });
  }
}

function securityOptions(options: ServerOptions, kekValue: string | undefined): SecurityOptions {
  if (kekValue !== undefined && options.caKekFile !== undefined) {
    throw new TrellisError(ErrorCodes.BAD_FLAG, '--ca-kek-file and TRELLIS_CA_KEK both give the key-encryption key: keep one', { field: 'ca-kek-file' });
  }
  if ((options.caCert === undefined) !== (options.caKey === undefined)) {
    throw new TrellisError(ErrorCodes.BAD_FLAG, '--ca-cert and --ca-key go together: give both, or neither (a root is made on first start)', { field: options.caCert === undefined ? 'ca-cert' : 'ca-key' });
  }
  if (options.trustDomain !== undefined && !TRUST_DOMAIN.test(options.trustDomain)) {
    throw new TrellisError(ErrorCodes.BAD_FLAG, `--trust-domain must be lower-case letters, digits, dots and dashes, such as example.org (got ${JSON.stringify(options.trustDomain)})`, { field: 'trust-domain' });
  }
  const federated = (options.federatedTrustDomains ?? '').split(',').map((d) => d.trim()).filter((d) => d !== '');
  for (const domain of federated) {
    if (!TRUST_DOMAIN.test(domain)) {
      throw new TrellisError(ErrorCodes.BAD_FLAG, `--federated-trust-domains: ${JSON.stringify(domain)} is not a trust domain (lower-case letters, digits, dots and dashes, such as partner.example)`, { field: 'federated-trust-domains' });
    }
  }
  const maxLifetime = options.certMaxLifetime === undefined ? undefined : parseDuration(options.certMaxLifetime);
  if (maxLifetime !== undefined && maxLifetime < 1_000) {
    throw new TrellisError(ErrorCodes.BAD_FLAG, '--cert-max-lifetime must be at least 1s', { field: 'cert-max-lifetime' });
  }
  return {
    ...(options.trustDomain === undefined ? {} : { trustDomain: options.trustDomain }),
    ...(maxLifetime === undefined ? {} : { maxCertLifetimeMs: maxLifetime }),
    ...(federated.length === 0 ? {} : { federatedTrustDomains: federated }),
    ...(kekValue === undefined && options.caKekFile === undefined ? {} : {
      kek: { ...(kekValue === undefined ? {} : { value: kekValue }), ...(options.caKekFile === undefined ? {} : { file: options.caKekFile }) },
    }),
    ...(options.caCert === undefined || options.caKey === undefined ? {} : {
      givenRoot: { certificatePem: readPem(options.caCert, '--ca-cert'), keyPem: readPem(options.caKey, '--ca-key') },
    }),
  };
}

function xdsMtlsFlag(value: string): boolean {
  if (value === 'strict') return true;
  if (value === 'off') return false;
  throw new TrellisError(ErrorCodes.BAD_FLAG, `--xds-mtls is strict or off (got ${JSON.stringify(value)})`, { field: 'xds-mtls' });
}

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
  xds: string;
  xdsMaxStreams?: number;
  xdsMaxStreamsPerToken?: number;
  xdsMtls: string;
  logLevel: string;
  minCheckInterval?: number;
  watchKeepalive?: number;
  rateLimit?: number;
  watchMaxBuffer?: number;
  presenceGrace?: string;
  trustDomain?: string;
  caCert?: string;
  caKey?: string;
  certMaxLifetime?: string;
  caKekFile?: string;
  federatedTrustDomains?: string;
  apiTlsCert?: string;
  apiTlsKey?: string;
  maxConnections?: number;
  maxConnectionsPerSource?: number;
  maxUnfinishedPerSource?: number;
  headerTimeout?: string;
  requestTimeout?: string;
  idleTimeout?: string;
  keepaliveTimeout?: string;
  maxRequestsPerConnection?: number;
}

/** The API listener's limits from the flags given (docs/operations.md, "Listener limits"). */
function limitsOf(options: ServerOptions): ListenerLimits {
  const ms = (value: string | undefined): number | undefined => (value === undefined ? undefined : parseDuration(value));
  const given: Partial<Record<keyof ListenerLimits, number | undefined>> = {
    maxConnections: options.maxConnections,
    maxConnectionsPerSource: options.maxConnectionsPerSource,
    maxPendingPerSource: options.maxUnfinishedPerSource,
    headerTimeoutMs: ms(options.headerTimeout),
    requestTimeoutMs: ms(options.requestTimeout),
    idleTimeoutMs: ms(options.idleTimeout),
    keepAliveTimeoutMs: ms(options.keepaliveTimeout),
    maxRequestsPerConnection: options.maxRequestsPerConnection,
  };
  return listenerLimits(Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)), options.watchKeepalive);
}

function apiTls(options: ServerOptions): ApiTls | undefined {
  if ((options.apiTlsCert === undefined) !== (options.apiTlsKey === undefined)) {
    throw new TrellisError(ErrorCodes.BAD_FLAG, '--api-tls-cert and --api-tls-key go together: give both (the API serves HTTPS), or neither', { field: options.apiTlsCert === undefined ? 'api-tls-cert' : 'api-tls-key' });
  }
  if (options.apiTlsCert === undefined || options.apiTlsKey === undefined) return undefined;
  return { cert: readPem(options.apiTlsCert, '--api-tls-cert'), key: readPem(options.apiTlsKey, '--api-tls-key') };
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
    .option('--xds <host:port|off>', 'serve xDS (ADS over gRPC) for proxyless gRPC clients and Envoy on this address, or "off" (docs/proxyless.md)', 'off')
    .option('--xds-max-streams <n>', 'most xDS streams open at once (default 20000)', intArg('--xds-max-streams', 1, 1_000_000))
    .option('--xds-max-streams-per-token <n>', 'most xDS streams one token may hold open (default 2000)', intArg('--xds-max-streams-per-token', 1, 1_000_000))
    .option('--xds-mtls <strict|off>', 'mutual TLS for proxyless gRPC (gRFC A29, certificates from `trellis identity`) on every cluster and inbound listener (default off)', 'off')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (env TRELLIS_LOG_LEVEL)', env.logLevel)
    .option('--min-check-interval <ms>', 'active checks never run more often than this (default 100)', intArg('--min-check-interval', 1, 3_600_000))
    .option('--watch-keepalive <ms>', 'keep-alive interval on idle watch streams (default 15000)', intArg('--watch-keepalive', 10, 3_600_000))
    .option('--watch-max-buffer <bytes>', 'a watcher whose unread live events exceed this is cut off with TRELLIS_ERR_WATCHER_TOO_SLOW (default 8388608)', intArg('--watch-max-buffer', 1_024, 1_073_741_824))
    .option('--rate-limit <n>', 'registrations and heartbeats per second per token, bursts of twice that; 0 = no limit (default 10000)', intArg('--rate-limit', 0, 10_000_000))
    .option('--presence-grace <duration>', "how long a sidecar's dropped control-plane connection may take to come back before its instance is marked critical (default 500ms)", durationArg('--presence-grace', { minMs: 50, maxMs: 3_600_000, words: '50ms to 1h' }))
    .option('--trust-domain <domain>', 'the SPIFFE trust domain of workload identities (default trellis.local)')
    .option('--ca-cert <file>', 'on first start, take this root certificate (PEM, ECDSA P-256) instead of making one')
    .option('--ca-key <file>', "the root's private key (PEM); copied into the data dir with mode 0600")
    .option('--ca-kek-file <file>', `the key-encryption key of the CA's root keys in the store (base64 of 32 bytes; or env ${KEK_ENV}; default <data-dir>/ca/kek, made on first start). Replicas on one etcd must share it`)
    .option('--federated-trust-domains <list>', 'other SPIFFE trust domains whose workloads sidecars accept, comma-separated (default none: another trust domain is refused)')
    .option('--cert-max-lifetime <duration>', 'longest workload certificate lifetime, also the root rotation step (default 24h)', durationArg('--cert-max-lifetime'))
    .option('--api-tls-cert <file>', 'serve the API over HTTPS (TLS 1.2+) with this certificate (PEM; with --api-tls-key); clients trust its CA with --control-plane-ca')
    .option('--api-tls-key <file>', "the API certificate's private key (PEM)")
    .option('--max-connections <n>', `most API connections open at once; lowered to keep a quarter of the fd limit free (default ${LIMITS.maxConnections})`, intArg('--max-connections', 16, 1_000_000))
    .option('--max-connections-per-source <n>', `most API connections from one address (default ${LIMITS.maxConnectionsPerSource})`, intArg('--max-connections-per-source', 1, 1_000_000))
    .option('--max-unfinished-per-source <n>', `most connections from one address still sending their request head; the oldest is closed beyond it (default ${LIMITS.maxPendingPerSource})`, intArg('--max-unfinished-per-source', 1, 1_000_000))
    .option('--header-timeout <duration>', 'a request head must arrive within this, at most 10s (default 10s)', durationArg('--header-timeout', { minMs: 100, maxMs: 10_000, words: '100ms to 10s' }))
    .option('--request-timeout <duration>', 'a whole request, body included, must arrive within this (default 30s)', durationArg('--request-timeout', { minMs: 100, maxMs: 3_600_000, words: '100ms to 1h' }))
    .option('--idle-timeout <duration>', 'a connection with no traffic either way for this long is closed; above --watch-keepalive (default 2m)', durationArg('--idle-timeout', { minMs: 1_000, maxMs: 86_400_000, words: '1s to 24h' }))
    .option('--keepalive-timeout <duration>', 'an idle keep-alive connection is closed after this (default 5s)', durationArg('--keepalive-timeout', { minMs: 100, maxMs: 3_600_000, words: '100ms to 1h' }))
    .option('--max-requests-per-connection <n>', `requests on one keep-alive connection before it is closed (default ${LIMITS.maxRequestsPerConnection})`, intArg('--max-requests-per-connection', 1, 100_000_000))
    .action(async (options: ServerOptions) => {
      // Everything this process creates is for its user only (the data dir: store, CA keys, tokens).
      process.umask(0o077);
      const listen = parseHostPort(options.listen, '--listen');
      const dns = options.dns === 'off' ? false : parseHostPort(options.dns, '--dns');
      const xds = options.xds === 'off' ? false : parseHostPort(options.xds, '--xds');
      const etcd = etcdSettings(options, env.etcdPassword);
      checkStoreFlag(options.store);
      const tls = apiTls(options);
      const limits = limitsOf(options);
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
        xds,
        xdsMtls: xdsMtlsFlag(options.xdsMtls),
        ...(options.xdsMaxStreams === undefined && options.xdsMaxStreamsPerToken === undefined ? {} : {
          xdsLimits: {
            ...(options.xdsMaxStreams === undefined ? {} : { maxStreams: options.xdsMaxStreams }),
            ...(options.xdsMaxStreamsPerToken === undefined ? {} : { maxStreamsPerToken: options.xdsMaxStreamsPerToken }),
          },
        }),
        logger,
        ...(options.minCheckInterval === undefined ? {} : { minCheckIntervalMs: options.minCheckInterval }),
        ...(options.watchKeepalive === undefined ? {} : { watchKeepAliveMs: options.watchKeepalive }),
        ...(options.rateLimit === undefined ? {} : { rateLimitPerSecond: options.rateLimit }),
        ...(options.watchMaxBuffer === undefined ? {} : { watchMaxBufferedBytes: options.watchMaxBuffer }),
        ...(options.presenceGrace === undefined ? {} : { presenceGraceMs: parseDuration(options.presenceGrace)! }),
        security: securityOptions(options, env.caKek),
        ...(tls === undefined ? {} : { apiTls: tls }),
        limits,
      });
      if (controlPlane.createdAdminToken !== undefined) showAdminToken(controlPlane.createdAdminToken, join(options.dataDir, ADMIN_TOKEN_FILE));
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

/**
 * The admin token made on first start: shown once on a terminal (stderr, never through the
 * logger); on a pipe or file (captured output, a log collector) only where to read it.
 */
function showAdminToken(token: string, file: string): void {
  if (process.stderr.isTTY) {
    process.stderr.write(`trellis server: the admin token (shown only now, on this terminal; also in ${file}, mode 0600):\n${token}\n`);
  } else {
    process.stderr.write(`trellis server: made the admin token; read it from ${file} (mode 0600): it is shown only on a terminal, never where output may be captured\n`);
  }
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
