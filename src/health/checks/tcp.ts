/**
 * TCP checks: open a connection to the instance and close it at once. Connected within
 * the timeout is passing; refused, unreachable or timed out is critical, with the error
 * code in the output (e.g. `TCP connect 10.0.0.7:5432: connect ECONNREFUSED 10.0.0.7:5432`).
 */
import { connect } from 'node:net';
import type { Clock } from '../../core/clock.js';
import { formatHostPort, probePort, settleProbe } from './support.js';
import type { Probe, TcpCheckSpec } from './types.js';

/** Builds the probe for a TCP check. */
export function tcpProbe(spec: TcpCheckSpec, clock?: Clock): Probe {
  return (target, signal) => {
    const port = probePort(spec, target);
    const what = `TCP connect ${formatHostPort(target.address, port)}`;
    return settleProbe(what, signal, spec.timeoutMs, async (deadline) => {
      await connectOnce(target.address, port, deadline);
      return { status: 'passing', detail: 'Success' };
    }, clock);
  };
}

/** Resolves once a connection to host:port is established (then closes it); rejects on error or abort. */
function connectOnce(host: string, port: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    // With `signal`, an abort destroys the socket and surfaces as an 'error' event.
    const socket = connect({ host, port, signal });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', (err) => {
      socket.destroy();
      reject(err);
    });
  });
}
