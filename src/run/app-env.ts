/**
 * The environment an app is started with (documented in docs/cli.md):
 *
 *   PORT                     the port the app must listen on (127.0.0.1 is enough; in a network
 *                            namespace, all addresses: the sidecar reaches it over a veth)
 *   TRELLIS_SERVICE          its service name
 *   TRELLIS_INSTANCE_ID      its instance id
 *   TRELLIS_CONTROL_PLANE    the control plane URL
 *   TRELLIS_OUTBOUND         http://127.0.0.1:P — the sidecar's outbound listener: use it as an
 *                            HTTP proxy (curl -x $TRELLIS_OUTBOUND http://my-service/) or
 *                            send requests to it with `Host: my-service`
 *   TRELLIS_UPSTREAM_<NAME>  http://127.0.0.1:P — the local port of one upstream service
 *                            (NAME upper-cased, '-' → '_': my-service → TRELLIS_UPSTREAM_MY_SERVICE)
 *
 * A PORT the user set (env.PORT) is never replaced: it must be the app's port, else this fails.
 * In a network namespace, the outbound and upstream URLs are on the host's end of the veth.
 *
 * HTTP_PROXY itself is not set: it would send every HTTP call of the app, including calls
 * outside the mesh, through the sidecar.
 */
import { TOKEN_VARIABLE } from '../config/env.js';
import { ErrorCodes, TrellisError } from '../errors.js';

export interface AppEnvironment {
  readonly service: string;
  readonly id: string;
  readonly appPort: number;
  readonly controlPlane: string;
  readonly outboundPort: number;
  /** Where the sidecar's outbound side listens, as the app reaches it (default 127.0.0.1). */
  readonly outboundHost?: string;
  /** Local port of each upstream service, by service name. */
  readonly upstreamPorts: ReadonlyMap<string, number>;
}

/** TRELLIS_UPSTREAM_MY_SERVICE for my-service. */
export function upstreamVariable(service: string): string {
  return `TRELLIS_UPSTREAM_${service.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** The variables Trellis adds; `inherited` (the caller's environment) and `extra` come first. */
export function appEnvironment(
  inherited: NodeJS.ProcessEnv,
  extra: Readonly<Record<string, string>>,
  mesh: AppEnvironment,
): NodeJS.ProcessEnv {
  const host = mesh.outboundHost ?? '127.0.0.1';
  const upstreams = Object.fromEntries([...mesh.upstreamPorts].map(([service, port]) => [upstreamVariable(service), `http://${host}:${port}`]));
  const given = extra['PORT'];
  if (given !== undefined && given !== String(mesh.appPort)) {
    throw new TrellisError(ErrorCodes.CONFIG,
      `${mesh.id}: env.PORT is ${given} but the app's port is ${mesh.appPort}: Trellis never overrides PORT silently — declare targetPort: ${given} (or --port ${given}) so the sidecar forwards there, or remove env.PORT`,
      { field: 'env.PORT' });
  }
  // The sidecar's join token is for the sidecar alone.
  const { [TOKEN_VARIABLE]: _token, ...parent } = inherited;
  return {
    ...parent,
    ...extra,
    PORT: String(mesh.appPort),
    TRELLIS_SERVICE: mesh.service,
    TRELLIS_INSTANCE_ID: mesh.id,
    TRELLIS_CONTROL_PLANE: mesh.controlPlane,
    TRELLIS_OUTBOUND: `http://${host}:${mesh.outboundPort}`,
    ...upstreams,
  };
}
