/**
 * The balance layer: picks an endpoint of the request's service with that service's
 * Balancer, skipping endpoints this request already tried and outlier-ejected ones, and
 * sends the request there. Nothing to pick is a NO_HEALTHY_ENDPOINT failure that says why.
 * Every pick is reported back (`done`) with the latency to the response head and the
 * verdict (../classify.ts: computed here first, innermost, for the layers outside to read):
 * a success unless it blames the endpoint. The service's outlier detector is told of each
 * attempt's start and end too, for its no-progress signal (../layers/outlier-detector.ts).
 * With `peersAuthenticated` (every connection to an endpoint is mutual TLS that checked the
 * peer is a sidecar of the service), an answer carrying `trellis-error` is vouched for: the
 * verdict believes the peer's code (../classify.ts).
 */
import { performance } from 'node:perf_hooks';
import type { NoPickReason } from '../../balancer/types.js';
import { ErrorCodes } from '../../errors.js';
import type { Cluster } from '../discovery/cluster.js';
import { verdictOf, vouchForPeerAnswer } from '../classify.js';
import { AttemptCancellation } from './deadline.js';
import { failed, proxyFailure } from '../failure.js';
import type { EndpointHandler, Handler, Outcome, ProxyRequest } from '../types.js';

export type ClusterLookup = (service: string) => Cluster | undefined;

function hashKeyOf(request: ProxyRequest): string | undefined {
  const header = request.target.policy.hashHeader;
  if (header === undefined) return undefined;
  const value = request.headers[header];
  return typeof value === 'string' ? value : value?.[0];
}

function explain(cluster: Cluster, reason: NoPickReason, request: ProxyRequest): string {
  const service = JSON.stringify(cluster.service);
  const stale = cluster.state === 'stale' ? ' (the control plane is unreachable: this is the last table the sidecar saw)'
    : cluster.state === 'connecting' ? ' (the sidecar has not reached the control plane yet)' : '';
  switch (reason) {
    case 'empty':
      return cluster.registered === 0
        ? `service ${service} has no registered instance${stale}`
        : `service ${service} has no healthy instance: all ${cluster.registered} registered are critical${stale}`;
    case 'all-drained':
      return `every healthy instance of service ${service} is drained (weight 0)${stale}`;
    case 'all-excluded':
      return `no instance of service ${service} is left to try: ${cluster.detector.ejected().size} ejected as outliers, ${request.tried.size} already tried by this request${stale}`;
  }
}

export interface BalanceOptions {
  /** Every connection to an endpoint is mutual TLS with the service's identity checked (mTLS strict or permissive). Default false. */
  readonly peersAuthenticated?: boolean;
}

export function createBalanceLayer(clusters: ClusterLookup, options: BalanceOptions = {}): (send: EndpointHandler) => Handler {
  const vouch = options.peersAuthenticated === true;
  return (send) => (request): Promise<Outcome> => {
    const cluster = clusters(request.target.service);
    if (cluster === undefined) {
      return Promise.resolve(failed(proxyFailure(ErrorCodes.NO_HEALTHY_ENDPOINT, `service ${JSON.stringify(request.target.service)} is not an upstream of this sidecar`)));
    }
    const { subset } = request.target;
    const pick = cluster.pick(request.tried, hashKeyOf(request), subset);
    if (pick.kind === 'none') {
      const why = explain(cluster, pick.reason, request);
      return Promise.resolve(failed(proxyFailure(ErrorCodes.NO_HEALTHY_ENDPOINT, subset === undefined ? why
        : `in subset ${subset.name} (${Object.entries(subset.labels).map(([k, v]) => `${k}=${v}`).join(', ')}, ${cluster.subset(subset).endpoints.length} healthy) of a route: ${why}`)));
    }
    const { id } = pick.endpoint;
    request.tried.add(id);
    const { detector } = cluster;
    // An attempt under its per-try deadline can be ended early, should its endpoint stop making progress.
    const attempt = request.signal instanceof AttemptCancellation ? request.signal : undefined;
    detector.started(id, attempt);
    const startedAt = performance.now();
    return send(request, pick.endpoint).then((outcome) => {
      const latencyMs = performance.now() - startedAt;
      if (vouch && outcome.ok && outcome.response.headers['trellis-error'] !== undefined) vouchForPeerAnswer(outcome.response);
      const success = verdictOf(request, outcome).blame !== 'endpoint';
      detector.settled(id, latencyMs, success, attempt);
      pick.done({ latencyMs, success });
      return outcome;
    }, (err: unknown) => {
      detector.settled(id, performance.now() - startedAt, false, attempt);
      throw err;
    });
  };
}
