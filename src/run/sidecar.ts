/**
 * The one place that turns a RunSpec into a sidecar config (src/proxy/config.ts), so
 * `trellis run` and every replica of `trellis up` start their sidecars the same way.
 */
import type { Logger } from 'pino';
import { startSidecar } from '../agent/sidecar.js';
import { formatHostPort } from '../util/host-port.js';
import type { PortSpec, RunSpec } from './types.js';

export interface InstanceSidecar {
  /** host:port the instance registers with (the inbound listener). */
  readonly inbound: string;
  /** The admin listener (/metrics, /status, /ready), host:port. */
  readonly admin: string;
  /** The bound outbound listener port (TRELLIS_OUTBOUND). */
  readonly outboundPort: number;
  /** The bound local port of each upstream. */
  readonly upstreamPorts: ReadonlyMap<string, number>;
  /** Whether the instance is registered (the app passed the sidecar's own health check). */
  registered(): boolean;
  /** Deregister, finish in-flight requests, close. */
  drain(): Promise<void>;
}

/**
 * The sidecar of one more port of the app (RunSpec.ports): it registers `port.service` for that
 * port, health-checked there; no upstreams (the app calls out through its main sidecar).
 */
export function startPortSidecar(spec: RunSpec, port: PortSpec, logger: Logger): Promise<InstanceSidecar> {
  const { appProtocol: _protocol, healthPath: _path, routes: _routes, token: _token, ports: _ports, ...shared } = spec;
  return startInstanceSidecar({
    ...shared,
    service: port.service,
    id: port.id,
    upstreams: [],
    ...(port.protocol === undefined ? {} : { appProtocol: port.protocol }),
    ...(port.healthPath === undefined ? {} : { healthPath: port.healthPath }),
    ...(port.token === undefined ? {} : { token: port.token }),
  }, port.port, logger.child({ port: port.service }));
}

export async function startInstanceSidecar(spec: RunSpec, appPort: number, logger: Logger): Promise<InstanceSidecar> {
  const health = {
    ...(spec.healthPath === undefined ? {} : { http: spec.healthPath }),
    ...(spec.healthIntervalMs === undefined ? {} : { interval: spec.healthIntervalMs }),
  };
  const sidecar = await startSidecar({
    config: {
      service: spec.service,
      id: spec.id,
      controlPlane: spec.controlPlane,
      app: {
        host: spec.network?.appAddress ?? '127.0.0.1',
        port: appPort,
        ...(spec.appProtocol === undefined ? {} : { protocol: spec.appProtocol }),
        ...(Object.keys(health).length === 0 ? {} : { health }),
      },
      inbound: { listen: '127.0.0.1:0' },
      // An app in a network namespace reaches its sidecar on the host's end of its veth.
      outbound: { listen: `${spec.network?.hostAddress ?? '127.0.0.1'}:0` },
      ...(spec.weight === undefined ? {} : { weight: spec.weight }),
      ...(spec.metadata === undefined ? {} : { metadata: { ...spec.metadata } }),
      ...(spec.routes === undefined ? {} : { routes: [...spec.routes] }),
      upstreams: spec.upstreams.map((u) => ({ ...u.policy, service: u.service, port: u.port ?? 0 })),
      ...(spec.mtlsMode === undefined ? {} : { mtls: { mode: spec.mtlsMode } }),
    },
    logger,
    ...(spec.token === undefined ? {} : { token: spec.token }),
    ...(spec.controlPlaneCa === undefined ? {} : { controlPlaneCa: spec.controlPlaneCa }),
  });
  return {
    inbound: sidecar.inbound === undefined ? '-' : formatHostPort(sidecar.inbound),
    admin: formatHostPort(sidecar.admin),
    outboundPort: sidecar.outbound.port,
    upstreamPorts: new Map(Object.entries(sidecar.upstreamPorts).map(([service, at]) => [service, at.port])),
    registered: () => sidecar.status().registration === 'registered',
    drain: () => sidecar.drain(),
  };
}
