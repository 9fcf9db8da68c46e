import { ErrorCodes, TrellisError } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
}

/**
 * Read "HOST:PORT" ("127.0.0.1:7700", "[::1]:7700", "localhost:0") with the WHATWG URL
 * parser. `flag` names the option in the error.
 */
export function parseHostPort(input: string, flag: string): HostPort {
  const fail = (why: string): never => {
    throw new TrellisError(ErrorCodes.BAD_FLAG, `${flag} must be HOST:PORT such as 127.0.0.1:7700 or [::1]:7700 — ${why} (got ${JSON.stringify(input)})`, { field: flag });
  };
  const portText = /:(\d+)$/.exec(input)?.[1];
  if (portText === undefined) return fail('the port is missing');
  const port = Number(portText);
  if (port > 65_535) fail('the port must be 0–65535');
  let url: URL;
  try {
    url = new URL(`tcp://${input}`);
  } catch {
    return fail('it is not a valid address');
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') fail('the host is missing');
  return { host, port };
}

/** "127.0.0.1:7700" / "[::1]:7700" */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
