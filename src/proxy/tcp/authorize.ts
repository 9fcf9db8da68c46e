/**
 * Inbound authorization for raw TCP: each connection is decided once, when it is
 * accepted, by the service's policies (only rules without methods or paths can match a
 * connection). A denied connection is closed — TCP has no way to carry an answer — and the
 * table logs and counts it. Before the first policy read a connection waits for it.
 */
import type { Socket } from 'node:net';
import type { AuthorizationTable } from '../authorization/table.js';
import { POLICY_WAIT_MS, whenReady } from '../authorization/wait.js';
import type { PeerIdentity } from '../types.js';

export interface ConnectionGateOptions {
  /** The caller's identity from the connection (its mTLS certificate); default: none, unauthenticated. */
  readonly identify?: (socket: Socket) => PeerIdentity | undefined;
  readonly waitMs?: number;
  /** Told about connections closed because no policy could be read in time. */
  readonly onUnavailable?: (socket: Socket) => void;
}

export function authorizeConnections(table: AuthorizationTable, relay: (client: Socket) => void, options: ConnectionGateOptions = {}): (client: Socket) => void {
  const identify = options.identify ?? (() => undefined);
  const decide = (client: Socket): void => {
    if (client.destroyed) return;
    const decision = table.decide({ service: table.service, peer: identify(client), protocol: 'tcp' }, {
      ...(client.remoteAddress === undefined ? {} : { remoteAddress: client.remoteAddress }),
    });
    if (decision.allowed) relay(client);
    else client.destroy();
  };
  return (client) => {
    if (table.ready) {
      decide(client);
      return;
    }
    void whenReady(table, options.waitMs ?? POLICY_WAIT_MS).then((ready) => {
      if (ready) {
        decide(client);
      } else {
        options.onUnavailable?.(client);
        client.destroy();
      }
    });
  };
}
