/**
 * A Consul-like DNS interface: the control plane answers
 *
 *   <service>.service.<domain>        A / AAAA / SRV / ANY for the healthy instances
 *   <id>.<service>.instance.<domain>  A / AAAA of one instance
 *
 * over UDP and TCP on one port. The `domain` defaults to `trellis`.
 */
export { startDnsServer } from './server.js';
export type { DnsInstance, DnsLogger, DnsLookup, DnsServer, DnsServerOptions } from './types.js';
