/**
 * The entry point of exposed services (`port:` in the mesh file — the seed's Service port):
 * one outbound-only sidecar, no app, no registration, with a local port per exposed service
 * that balances over the service's healthy instances like any caller's sidecar.
 */
import type { Logger } from 'pino';
import { ErrorCodes, TrellisError, isTrellisError } from '../errors.js';
import type { Protocol } from '../proxy/config.js';
import { startSidecar } from '../agent/sidecar.js';
import type { MtlsMode } from '../security/mtls/mode.js';
import { formatHostPort } from '../util/host-port.js';

export interface ExposedService {
  readonly service: string;
  readonly port: number;
  /** The service's loadBalancer as declared (raw), if any. */
  readonly loadBalancer?: unknown;
  /** What the service speaks (an http2/grpc service is exposed as h2c). */
  readonly protocol?: Protocol;
}

export interface IngressOptions {
  readonly services: readonly ExposedService[];
  readonly controlPlane: string;
  /** A taken port: fail naming the field, or take any free port. */
  readonly busyPorts: 'fail' | 'any';
  /** The mesh file, for messages. */
  readonly file: string;
  readonly logger: Logger;
  readonly mtlsMode: MtlsMode;
  /** Its join token (for the certificate it calls the services with). */
  readonly token?: string;
}

export interface Ingress {
  /** host:port by service. */
  readonly addresses: ReadonlyMap<string, string>;
  close(): Promise<void>;
}

export const INGRESS_SERVICE = 'ingress';

async function start(options: IngressOptions, anyPort: boolean): Promise<Ingress> {
  const sidecar = await startSidecar({
    config: {
      service: INGRESS_SERVICE,
      id: `${INGRESS_SERVICE}-1`,
      controlPlane: options.controlPlane,
      outbound: { listen: '127.0.0.1:0' },
      mtls: { mode: options.mtlsMode },
      upstreams: options.services.map((s) => ({
        service: s.service,
        port: anyPort ? 0 : s.port,
        ...(s.loadBalancer === undefined ? {} : { loadBalancer: s.loadBalancer }),
        ...(s.protocol === undefined ? {} : { protocol: s.protocol }),
      })),
    },
    logger: options.logger,
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  return {
    addresses: new Map(Object.entries(sidecar.upstreamPorts).map(([service, at]) => [service, formatHostPort(at)])),
    close: () => sidecar.drain(),
  };
}

export async function startIngress(options: IngressOptions): Promise<Ingress> {
  try {
    return await start(options, false);
  } catch (err) {
    if (!isTrellisError(err) || err.code !== ErrorCodes.LISTEN) throw err;
    if (options.busyPorts === 'any') return start(options, true);
    const index = Number(/upstreams\.(\d+)\.port/.exec(err.field ?? '')?.[1]);
    const service = options.services[index]?.service;
    const field = service === undefined ? 'port' : `services.${service}.port`;
    throw new TrellisError(ErrorCodes.LISTEN, `${err.message.replace(/ \(change [^)]*\)$/, '')} — choose another ${field} in ${options.file}`, { field, cause: err });
  }
}
