/**
 * The one module that reads process.env. Everything else gets settings passed in.
 */
export const DEFAULT_CONTROL_PLANE = 'http://127.0.0.1:7700';
export const DEFAULT_LISTEN = '127.0.0.1:7700';
export const DEFAULT_DNS = '127.0.0.1:7753';
export const DEFAULT_DATA_DIR = '.trellis/data';

export interface Environment {
  controlPlane: string;
  dataDir: string;
  logLevel: string;
}

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Environment {
  return {
    controlPlane: env['TRELLIS_CONTROL_PLANE'] || DEFAULT_CONTROL_PLANE,
    dataDir: env['TRELLIS_DATA_DIR'] || DEFAULT_DATA_DIR,
    logLevel: env['TRELLIS_LOG_LEVEL'] || 'info',
  };
}
