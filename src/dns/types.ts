/**
 * The public types of the DNS interface. The server knows nothing about the
 * registry: it asks a {@link DnsLookup} for the instances of a service, so it can
 * be tested (and reused) with any source of instances.
 */

/** One instance that DNS may hand out. */
export interface DnsInstance {
  /** Instance id: the first label of `<id>.<service>.instance.<domain>`. */
  id: string;
  /** An IPv4 or IPv6 address (answered as A / AAAA), or a hostname (used as the SRV target). */
  address: string;
  port: number;
  /** SRV weight, clamped to 1..65535. 0 means drained: DNS leaves the instance out. */
  weight: number;
}

/** Healthy, routable instances of a service; undefined when the service is unknown. */
export type DnsLookup = (service: string) => Promise<DnsInstance[] | undefined>;

/** The logging the DNS server does: a subset of pino's API. */
export interface DnsLogger {
  warn(obj: object, msg: string): void;
  debug?(obj: object, msg: string): void;
}

export interface DnsServerOptions {
  /** IPv4 or IPv6 address (or a name that resolves to one) to bind UDP and TCP to. */
  host: string;
  /** 0 = pick one free port for BOTH udp and tcp. */
  port: number;
  /** The zone this server is authoritative for; default 'trellis'. */
  domain?: string;
  /** TTL of every record; default 0 like Consul, so clients always see current health. */
  ttlSeconds?: number;
  lookup: DnsLookup;
  logger?: DnsLogger;
  /** A TCP connection with no query in flight is closed after this long idle; default 10 s. */
  tcpIdleTimeoutMs?: number;
}

/** A running DNS server, listening on the same port for UDP and TCP. */
export interface DnsServer {
  /** The address bound (a name given as host is resolved). */
  readonly host: string;
  readonly port: number;
  /** Stop both listeners and drop open TCP connections. Safe to call twice. */
  close(): Promise<void>;
}
