/**
 * Workload identity, shared by the data plane (the caller of a request), security (the
 * certificates that carry it, the policies that name it) and telemetry.
 */

/** A SPIFFE ID of the mesh's shape: `spiffe://<trustDomain>/ns/<namespace>/svc/<service>`. */
export type SpiffeId = `spiffe://${string}`;

/** A workload identity: `spiffe://<trustDomain>/ns/<namespace>/svc/<service>`, parsed. */
export interface PeerIdentity {
  readonly spiffeId: SpiffeId;
  readonly trustDomain: string;
  readonly namespace: string;
  readonly service: string;
}
