/** What the UDP and TCP listeners have in common. */
import type { QueryHandler } from './handler.js';
import type { DnsLogger } from './types.js';

export interface Listener {
  /** The port actually bound (differs from the one asked for when that was 0). */
  readonly port: number;
  close(): Promise<void>;
}

export interface ListenOptions {
  /** An IP address (names are resolved by the caller). */
  address: string;
  family: 4 | 6;
  port: number;
  handler: QueryHandler;
  logger: DnsLogger | undefined;
}
