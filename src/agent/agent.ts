/**
 * The agent: everything a sidecar does with the control plane — its API client and
 * credential (join token, then sessions), certificates (mTLS on) or sessions (mTLS off),
 * following the endpoint tables of its upstreams, their service defaults and its own
 * service's authorization policies, registration with heartbeats and presence (once the
 * data plane's inbound listener is bound), and telemetry reports. What it learns it
 * publishes as immutable snapshots (src/proxy/snapshot.ts) that the data plane reads; it
 * never reaches into the data plane.
 */
import type { Logger } from 'pino';
import { ControlPlaneClient } from '../client/control-plane.js';
import type { SidecarConfig } from '../proxy/config.js';
import type { SnapshotSource, TlsView } from '../proxy/snapshot.js';
import type { SidecarTls } from '../security/mtls/sidecar-tls.js';
import type { WorkloadCertificate } from '../security/identity/workload.js';
import { startSessionKeeper } from '../security/tokens/session-keeper.js';
import { SidecarCredential } from '../security/tokens/sidecar-credential.js';
import { ServicePolicies, policyFeed } from './authorization.js';
import { DEFAULT_SCOPE } from '../security/authz/engine.js';
import { EndpointListing, endpointFeed } from './endpoints.js';
import { FeedFollower } from './follower.js';
import { startAgentInstance, type AgentInstance } from './instance.js';
import { SnapshotPublisher } from './publisher.js';
import { UpstreamDefaults, serviceDefaultsFeed } from './service-defaults.js';
import { UpstreamRoutes, routesFeed } from './routes.js';

export interface AgentOptions {
  readonly config: SidecarConfig;
  readonly logger: Logger;
  /** A join token, for the first certificate and session; afterwards the newest session is used. */
  readonly token: string;
  /** The CA (PEM) of an https:// control plane's certificate. */
  readonly controlPlaneCa?: string;
}

export interface Agent {
  readonly client: ControlPlaneClient;
  /** The snapshots the data plane reads. */
  readonly snapshots: SnapshotSource;
  /** Mutual TLS (identity, handshake counters); undefined in mode off. */
  readonly tls: SidecarTls | undefined;
  /** Follow the control plane; resolves once the endpoint tables and service defaults synced, or after `timeoutMs`. */
  follow(timeoutMs: number): Promise<void>;
  /** Register this instance (its inbound listener bound at `inboundPort`), heartbeating while the app passes. */
  register(inboundPort: number, onAppHealthChange?: (passing: boolean) => void): AgentInstance | undefined;
  close(): Promise<void>;
}

function tlsView(certificate: WorkloadCertificate | undefined): TlsView | undefined {
  if (certificate === undefined) return undefined;
  const { spiffeId, trustDomain, certificatePem, keyPem, trustBundle, notAfter } = certificate;
  return Object.freeze({ spiffeId, trustDomain, certificatePem, keyPem, trustBundle, notAfter });
}

export async function startAgent(options: AgentOptions): Promise<Agent> {
  const { config, logger } = options;
  const credential = new SidecarCredential(options.token);
  const client = new ControlPlaneClient(config.controlPlane, () => credential.current(), options.controlPlaneCa === undefined ? undefined : { ca: options.controlPlaneCa });
  const closers: Array<() => Promise<void> | void> = [];
  const close = async (): Promise<void> => {
    for (const closer of closers.splice(0).reverse()) await closer();
  };
  try {
    // The certificate code (x509, ASN.1) is loaded only when mTLS is on: ≈ 17 MB RSS a sidecar in mode off does not need.
    const tls = config.mtls.mode === 'off' ? undefined
      : await (await import('../security/mtls/sidecar-tls.js')).startSidecarTls({ config: config.mtls, service: config.service, client, token: options.token, logger, onSession: (s) => credential.adopt(s) });
    if (tls === undefined) {
      // No certificates to carry sessions: the join token is exchanged for renewable ones.
      const keeper = await startSessionKeeper({ client, credential, service: config.service, lifetimeMs: config.mtls.certificateLifetimeMs, logger });
      closers.push(() => keeper.close());
    } else {
      closers.push(() => tls.close());
    }

    let publisher: SnapshotPublisher | undefined;
    const changed = (): void => publisher?.schedule();
    const listings = new Map(config.upstreams.map((u) => [u.service, new EndpointListing(u.service, changed)]));
    const defaults = new UpstreamDefaults(config.upstreams.map((u) => u.service), changed);
    const routes = new UpstreamRoutes(config.upstreams.map((u) => u.service), changed, logger);
    // Inbound authorization: only a sidecar with an app serves inbound requests.
    const policies = config.app === undefined ? undefined : new ServicePolicies(config.service, changed, { ...DEFAULT_SCOPE, namespace: config.mtls.namespace });
    if (policies !== undefined && tls !== undefined) {
      const { followCertificateScope } = await import('../security/mtls/sidecar-tls.js');
      followCertificateScope(policies, tls.identity, config.mtls.namespace);
    }
    let certificate = tls?.identity.current();
    let tlsSnapshot = tlsView(certificate);
    const currentTls = (): TlsView | undefined => {
      const now = tls?.identity.current();
      if (now !== certificate) {
        certificate = now;
        tlsSnapshot = tlsView(now);
      }
      return tlsSnapshot;
    };
    const started = new SnapshotPublisher({ upstreams: config.upstreams, listings, defaults, routes, policies, tls: currentTls, logger });
    publisher = started;
    closers.push(() => started.close());
    tls?.identity.onRenewed(changed);

    const followers = [...listings.values()].map((listing) => new FeedFollower({ feed: endpointFeed(client, listing), logger }));
    if (config.upstreams.length > 0) {
      followers.push(new FeedFollower({ feed: serviceDefaultsFeed(client, defaults), logger }));
      followers.push(new FeedFollower({ feed: routesFeed(client, routes), logger }));
    }
    const policyFollower = policies === undefined ? undefined : new FeedFollower({ feed: policyFeed(client, policies), logger });
    closers.push(() => {
      for (const follower of followers) follower.close();
      policyFollower?.close();
    });

    return {
      client,
      snapshots: started.cell,
      tls,
      async follow(timeoutMs) {
        for (const follower of followers) follower.start();
        policyFollower?.start();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all(followers.map((f) => f.synced)),
          new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs); }),
        ]);
        clearTimeout(timer);
        // What synced is in the snapshot before the data plane starts routing.
        started.publishNow();
      },
      register(inboundPort, onAppHealthChange) {
        if (config.app === undefined) return undefined;
        const instance = startAgentInstance({
          config, app: config.app, client, logger, inboundPort, tls,
          ...(onAppHealthChange === undefined ? {} : { onAppHealthChange }),
        });
        closers.push(() => instance.close());
        return instance;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
