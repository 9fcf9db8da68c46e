/**
 * Where raw TCP connections go: to a picked endpoint of an upstream service (a connect
 * failure tries another endpoint, up to the policy's attempts), or to the local app.
 * TCP has no way to carry an error answer: a connection with nowhere to go is closed,
 * logged and counted.
 */
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import type { ThrottledLog } from '../../util/throttled-log.js';
import { messageOf } from '../../errors.js';
import type { ClientTls } from '../../security/mtls/client.js';
import type { Cluster } from '../discovery/cluster.js';
import { connectTcp, connectTls, splice } from './splice.js';

export interface RelayOptions {
  readonly connectTimeoutMs: number;
  /** Reports connections that could not be relayed. */
  readonly failures: ThrottledLog;
  /** Mutual TLS to peer sidecars (relayToCluster only; the local app is plaintext). */
  readonly tls?: ClientTls;
}

/** Relay each connection to an endpoint of `cluster`, trying up to `attempts` endpoints. */
export function relayToCluster(cluster: Cluster, attempts: number, options: RelayOptions): (client: Socket) => void {
  return (client) => {
    void (async () => {
      const tried = new Set<string>();
      let lastError = 'no healthy endpoint';
      for (let attempt = 0; attempt < attempts && !client.destroyed; attempt += 1) {
        const pick = cluster.pick(tried);
        if (pick.kind === 'none') {
          lastError = `no endpoint to pick (${pick.reason})`;
          break;
        }
        tried.add(pick.endpoint.id);
        const startedAt = performance.now();
        const upstream = options.tls === undefined
          ? await connectTcp(pick.endpoint.address, pick.endpoint.port, options.connectTimeoutMs)
          : await connectTls(options.tls.connect(pick.endpoint.address, pick.endpoint.port, cluster.service, undefined), options.connectTimeoutMs);
        if (upstream instanceof Error) {
          pick.done({ latencyMs: performance.now() - startedAt, success: false });
          lastError = `${pick.endpoint.id}: ${messageOf(upstream)}`;
          continue;
        }
        if (client.destroyed) {
          upstream.destroy();
          pick.done({ latencyMs: performance.now() - startedAt, success: true });
          return;
        }
        splice(client, upstream, () => pick.done({ latencyMs: performance.now() - startedAt, success: true }));
        return;
      }
      options.failures.report({ service: cluster.service, tried: [...tried], err: lastError });
      client.destroy();
    })();
  };
}

/** Relay each connection to one fixed address (the local app). */
export function relayTo(host: string, port: number, options: RelayOptions, what: string): (client: Socket) => void {
  return (client) => {
    void connectTcp(host, port, options.connectTimeoutMs).then((upstream) => {
      if (upstream instanceof Error) {
        options.failures.report({ service: what, err: messageOf(upstream) });
        client.destroy();
      } else if (client.destroyed) {
        upstream.destroy();
      } else {
        splice(client, upstream, () => undefined);
      }
    });
  };
}
