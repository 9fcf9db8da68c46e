/**
 * The gateway resource (issue 15), shaped like the Gateway API's Gateway: a named edge with
 * its listeners (protocol, port, and the hostname each answers for), stored one key each
 * under `/config/gateways/<name>` through the generic config kind (src/core/config-kind.ts).
 * A `trellis gateway` of that name reads it at start: a request for a host no listener of the
 * resource answers for is refused there (404), whatever the routes say.
 */
import type { ConfigEvent, StoredConfig } from './config-kind.js';

export interface GatewayListenerSpec {
  readonly name: string;
  readonly protocol: 'HTTP' | 'HTTPS';
  readonly port: number;
  /** The host it answers for (`api.example.com`, `*.example.com`); absent: any. */
  readonly hostname?: string | undefined;
}

export interface GatewaySpec {
  readonly name: string;
  readonly listeners: readonly GatewayListenerSpec[];
}

/** A gateway as stored: as validated, with the revision of its last write. */
export type StoredGateway = StoredConfig<'name', 'spec', GatewaySpec>;

export const GATEWAY_FIELDS = Object.freeze({ nameField: 'name', itemField: 'gateway' } as const);

export type GatewayEvent = ConfigEvent<'name', 'gateway', StoredGateway>;

/** Whether `host` (bare, lower case) is one `hostname` answers for (absent: every host). */
export function hostFits(hostname: string | undefined, host: string): boolean {
  if (hostname === undefined) return true;
  if (hostname.startsWith('*.')) {
    const dot = host.indexOf('.');
    return dot > 0 && host.slice(dot) === hostname.slice(1);
  }
  return hostname === host;
}
