/**
 * The environment an app is started with (documented in docs/cli.md):
 *
 *   PORT                     the port the app must listen on (127.0.0.1 is enough)
 *   TRELLIS_SERVICE          its service name
 *   TRELLIS_INSTANCE_ID      its instance id
 *   TRELLIS_CONTROL_PLANE    the control plane URL
 *   TRELLIS_OUTBOUND         http://127.0.0.1:P — the sidecar's outbound listener: use it as an
 *                            HTTP proxy (curl -x $TRELLIS_OUTBOUND http://my-service/) or
 *                            send requests to it with `Host: my-service`
 *   TRELLIS_UPSTREAM_<NAME>  http://127.0.0.1:P — the local port of one upstream service
 *                            (NAME upper-cased, '-' → '_': my-service → TRELLIS_UPSTREAM_MY_SERVICE)
 *
 * HTTP_PROXY itself is not set: it would send every HTTP call of the app, including calls
 * outside the mesh, through the sidecar.
 */
import { TOKEN_VARIABLE } from '../config/env.js';

export interface AppEnvironment {
  readonly service: string;
  readonly id: string;
  readonly appPort: number;
  readonly controlPlane: string;
  readonly outboundPort: number;
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
  const upstreams = Object.fromEntries([...mesh.upstreamPorts].map(([service, port]) => [upstreamVariable(service), `http://127.0.0.1:${port}`]));
  // The sidecar's join token is for the sidecar alone.
  const { [TOKEN_VARIABLE]: _token, ...parent } = inherited;
  return {
    ...parent,
    ...extra,
    PORT: String(mesh.appPort),
    TRELLIS_SERVICE: mesh.service,
    TRELLIS_INSTANCE_ID: mesh.id,
    TRELLIS_CONTROL_PLANE: mesh.controlPlane,
    TRELLIS_OUTBOUND: `http://127.0.0.1:${mesh.outboundPort}`,
    ...upstreams,
  };
}
