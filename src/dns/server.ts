/**
 * startDnsServer: validate the options, bind UDP and TCP to one port, wire them
 * to the query handler.
 */
import { lookup as resolveName } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ErrorCodes, TrellisError } from '../errors.js';
import { QueryHandler } from './handler.js';
import type { Listener, ListenOptions } from './listener.js';
import { DEFAULT_DOMAIN, normalizeDomain } from './names.js';
import { listenTcp } from './tcp.js';
import type { DnsServer, DnsServerOptions } from './types.js';
import { listenUdp } from './udp.js';
import { Zone } from './zone.js';

const DEFAULT_TCP_IDLE_TIMEOUT_MS = 10_000;
/** With port 0, how many free UDP ports to try before giving up on finding one also free for TCP. */
const PORT_ATTEMPTS = 5;
const MAX_TTL_SECONDS = 0x7fffffff;

function invalid(field: string, message: string): never {
  throw new TrellisError(ErrorCodes.VALIDATION, message, { field });
}

function isInteger(value: number, min: number, max: number): boolean {
  return Number.isInteger(value) && value >= min && value <= max;
}

/** The address to bind: the host itself if it is an IP address, else what it resolves to. */
async function resolveHost(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const family = isIP(host);
  if (family === 4 || family === 6) return { address: host, family };
  const resolved = await resolveName(host);
  return { address: resolved.address, family: resolved.family === 6 ? 6 : 4 };
}

function isAddressInUse(err: unknown): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
}

/**
 * Bind UDP then TCP to the same port. With port 0 the UDP socket picks a free
 * port, which TCP may find taken by another program: then both are released and
 * the whole thing is retried, a few times.
 */
async function bindSamePort(base: Omit<ListenOptions, 'port'>, port: number, idleTimeoutMs: number): Promise<{ udp: Listener; tcp: Listener }> {
  for (let attempt = 1; ; attempt += 1) {
    const udp = await listenUdp({ ...base, port });
    try {
      return { udp, tcp: await listenTcp({ ...base, port: udp.port, idleTimeoutMs }) };
    } catch (err) {
      await udp.close();
      if (port !== 0 || !isAddressInUse(err) || attempt >= PORT_ATTEMPTS) throw err;
    }
  }
}

/**
 * Start answering DNS for the instances `options.lookup` returns, on UDP and TCP
 * at `options.host`:`options.port`. Rejects with a TrellisError for invalid
 * options, or with the socket error (EADDRINUSE, EACCES…) if it cannot listen.
 */
export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const { host, port, lookup, logger } = options;
  const ttlSeconds = options.ttlSeconds ?? 0;
  const idleTimeoutMs = options.tcpIdleTimeoutMs ?? DEFAULT_TCP_IDLE_TIMEOUT_MS;
  if (host === '') invalid('host', 'host must be an IP address or a hostname');
  if (!isInteger(port, 0, 0xffff)) invalid('port', `port must be a whole number 0–65535 (got ${port})`);
  if (!isInteger(ttlSeconds, 0, MAX_TTL_SECONDS)) invalid('ttlSeconds', `ttlSeconds must be a whole number of seconds ≥ 0 (got ${ttlSeconds})`);
  if (!(idleTimeoutMs > 0)) invalid('tcpIdleTimeoutMs', `tcpIdleTimeoutMs must be > 0 (got ${idleTimeoutMs})`);
  const domain = normalizeDomain(options.domain ?? DEFAULT_DOMAIN);

  const { address, family } = await resolveHost(host);
  const handler = new QueryHandler(new Zone({ domain, ttlSeconds, lookup }), logger);
  const { udp, tcp } = await bindSamePort({ address, family, handler, logger }, port, idleTimeoutMs);

  let closing: Promise<void> | undefined;
  return {
    host: address,
    port: udp.port,
    close: () => (closing ??= Promise.all([udp.close(), tcp.close()]).then(() => undefined)),
  };
}
