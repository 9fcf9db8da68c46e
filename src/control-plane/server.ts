/**
 * The control plane process: the store, the registry on it, the health tasks
 * (TTL monitor, active checks, critical reaper), the HTTP API and the DNS interface.
 */
import type { Logger } from 'pino';
import { startActiveChecks, type ActiveChecks } from '../health/active-checks.js';
import { startCriticalReaper } from '../health/critical-reaper.js';
import { startTtlMonitor } from '../health/ttl-monitor.js';
import { startDnsServer, type DnsServer } from '../dns/index.js';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import { Registry } from '../registry/registry.js';
import { isHealthy } from '../registry/types.js';
import { openStore } from '../store/open.js';
import { formatHostPort, type HostPort } from '../util/host-port.js';
import { TelemetryCollector } from '../telemetry/collector.js';
import { buildApi } from './api/app.js';

export interface ControlPlaneOptions {
  dataDir: string;
  listen: HostPort;
  /** DNS on UDP and TCP; false to turn it off. */
  dns: HostPort | false;
  logger: Logger;
  /** Active health checks never run more often than this. */
  minCheckIntervalMs?: number;
  /** A keep-alive line is sent on idle watch streams this often (default 15 s). */
  watchKeepAliveMs?: number;
}

export interface ControlPlane {
  /** http://host:port of the API. */
  readonly url: string;
  readonly dns: HostPort | undefined;
  readonly registry: Registry;
  close(): Promise<void>;
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const { logger } = options;
  const store = await openStore({ dataDir: options.dataDir, logger });
  const registry = new Registry(store);
  const closers: Array<() => Promise<void> | void> = [() => store.close()];
  const close = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) {
      try { await c(); } catch (err) { logger.warn({ err: messageOf(err) }, 'error while shutting down'); }
    }
  };
  try {
    const ttl = await startTtlMonitor(registry, logger);
    closers.push(() => ttl.close());
    const reaper = await startCriticalReaper(registry, logger);
    closers.push(() => reaper.close());
    const checks: ActiveChecks = await startActiveChecks(registry, logger, {
      ...(options.minCheckIntervalMs === undefined ? {} : { minIntervalMs: options.minCheckIntervalMs }),
    });
    closers.push(() => checks.close());

    const telemetry = await TelemetryCollector.start(registry, logger);
    closers.push(() => telemetry.close());
    const api = buildApi({ registry, logger, telemetry, ...(options.watchKeepAliveMs === undefined ? {} : { watch: { keepAliveMs: options.watchKeepAliveMs } }) });
    try {
      await api.listen({ host: options.listen.host, port: options.listen.port });
    } catch (err) {
      throw new TrellisError(ErrorCodes.LISTEN, `cannot listen on ${formatHostPort(options.listen)} for the API: ${messageOf(err)} (pick another --listen address)`, { cause: err });
    }
    closers.push(() => api.close());
    const address = api.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : options.listen.port;
    const url = `http://${formatHostPort({ host: options.listen.host, port })}`;

    let dns: DnsServer | undefined;
    if (options.dns !== false) {
      try {
        dns = await startDnsServer({
          host: options.dns.host,
          port: options.dns.port,
          logger,
          lookup: async (service) => {
            const { instances } = await registry.listInstances(service);
            return instances.length === 0 ? undefined : instances.filter(isHealthy);
          },
        });
      } catch (err) {
        throw new TrellisError(ErrorCodes.LISTEN, `cannot listen on ${formatHostPort(options.dns)} for DNS: ${messageOf(err)} (pick another --dns address, or --dns off)`, { cause: err });
      }
      const dnsServer = dns;
      closers.push(() => dnsServer.close());
    }
    const dnsAddress = dns === undefined ? undefined : { host: dns.host, port: dns.port };
    logger.info({ api: url, dns: dnsAddress === undefined ? null : formatHostPort(dnsAddress), dataDir: options.dataDir, backend: store.backend }, 'control plane ready');
    return { url, dns: dnsAddress, registry, close };
  } catch (err) {
    await close();
    throw err;
  }
}
