/**
 * The one module that reads process.env. Everything else gets settings passed in.
 */
export const DEFAULT_CONTROL_PLANE = 'http://127.0.0.1:7700';
export const DEFAULT_LISTEN = '127.0.0.1:7700';
export const DEFAULT_DNS = '127.0.0.1:7753';
export const DEFAULT_DATA_DIR = '.trellis/data';

/** The variable a sidecar's join token is passed in (never a flag: argv is visible to every user). */
export const TOKEN_VARIABLE = 'TRELLIS_TOKEN';

export interface Environment {
  /** One control-plane URL, or several separated by commas (replicas to fail over between). */
  controlPlane: string;
  dataDir: string;
  logLevel: string;
  /** A join token for `trellis proxy` / `trellis run` (TRELLIS_TOKEN). */
  token: string | undefined;
  /** `trellis server --store` default: "embedded" or etcd://host:port,… */
  store: string;
  /** etcd password for --etcd-user: from the environment only, never on the command line. */
  etcdPassword: string | undefined;
  /** The admin token for administrative CLI calls (TRELLIS_ADMIN_TOKEN). */
  adminToken: string | undefined;
  /** A CA file (PEM) to trust for an https:// control plane (TRELLIS_CONTROL_PLANE_CA). */
  controlPlaneCa: string | undefined;
  /** `trellis server`: the key-encryption key of the CA's root keys (TRELLIS_CA_KEK, base64 of 32 bytes). */
  caKek: string | undefined;
}

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Environment {
  return {
    controlPlane: env['TRELLIS_CONTROL_PLANE'] || DEFAULT_CONTROL_PLANE,
    dataDir: env['TRELLIS_DATA_DIR'] || DEFAULT_DATA_DIR,
    logLevel: env['TRELLIS_LOG_LEVEL'] || 'info',
    token: env[TOKEN_VARIABLE] || undefined,
    store: env['TRELLIS_STORE'] || 'embedded',
    etcdPassword: env['TRELLIS_ETCD_PASSWORD'] || undefined,
    adminToken: env['TRELLIS_ADMIN_TOKEN'] || undefined,
    controlPlaneCa: env['TRELLIS_CONTROL_PLANE_CA'] || undefined,
    caKek: env['TRELLIS_CA_KEK'] || undefined,
  };
}
