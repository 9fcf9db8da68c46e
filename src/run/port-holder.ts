/**
 * Before an app is started on a given port (`trellis run --port 8080`): is the port free, and
 * if not, who holds it? On Linux the listening socket is found in /proc/net/tcp{,6} and its
 * owner by the socket's inode among /proc/<pid>/fd; an app that an earlier `trellis run` left
 * behind is recognised by the TRELLIS_SERVICE / TRELLIS_INSTANCE_ID in its environment.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { ErrorCodes, TrellisError } from '../errors.js';
import { holderPid, listeningInodes } from './listener-owner.js';

export interface PortHolder {
  readonly pid: number;
  readonly command: string;
  /** Set when the holder was started by Trellis (an app of `trellis run` / `trellis up`). */
  readonly instance?: { readonly service: string; readonly id: string };
}

function environOf(pid: string): Map<string, string> {
  try {
    return new Map(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').map((kv) => {
      const at = kv.indexOf('=');
      return [kv.slice(0, at), kv.slice(at + 1)] as [string, string];
    }));
  } catch {
    return new Map();
  }
}

/** The process listening on `port` (any address), when it can be seen; undefined otherwise. */
export function portHolder(port: number): PortHolder | undefined {
  const inodes = listeningInodes('self', port);
  const pid = inodes === undefined || inodes.size === 0 ? undefined : holderPid(inodes);
  if (pid === undefined) return undefined;
  let command = '?';
  try { command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '').join(' ').slice(0, 120); } catch { /* gone meanwhile */ }
  const env = environOf(String(pid));
  const service = env.get('TRELLIS_SERVICE');
  const id = env.get('TRELLIS_INSTANCE_ID');
  return { pid, command, ...(service === undefined || id === undefined ? {} : { instance: { service, id } }) };
}

/** "pid 1234 (node server.js), the app of my-service-1 left behind by an earlier trellis run: stop it with kill 1234" */
export function describeHolder(holder: PortHolder | undefined): string {
  if (holder === undefined) return 'another process (not one this user can see)';
  const what = `pid ${holder.pid} (${holder.command})`;
  return holder.instance === undefined
    ? what
    : `${what}, the app of ${holder.instance.service} instance ${holder.instance.id} left behind by an earlier trellis run or up — stop it with \`kill ${holder.pid}\``;
}

/** Throws TrellisError LISTEN naming the holder when `port` cannot be bound on `host`. */
export async function assertPortFree(host: string, port: number, name: string): Promise<void> {
  const server = createServer();
  const problem = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ host, port, exclusive: true }, () => resolve(undefined));
  });
  await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  if (problem === undefined) return;
  if (problem.code !== 'EADDRINUSE') return; // e.g. EACCES below 1024: the app will say so itself
  throw new TrellisError(ErrorCodes.LISTEN,
    `${name}: port ${port} is already in use by ${describeHolder(portHolder(port))}; the app could not listen on it. Stop that process, or pick another --port`);
}
