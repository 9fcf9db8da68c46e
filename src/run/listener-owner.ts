/**
 * Whose listener answers on a port: the kernel's socket tables (/proc/PID/net/tcp and tcp6,
 * which show the network namespace PID is in) give the inode of each listening socket, and
 * /proc/PID/fd links (`socket:[INODE]`) say which process holds it. Readiness uses it so a
 * port answered by someone else (a first copy of the app, another program) never counts as
 * the app being ready. Linux only; elsewhere (or without /proc) the answer is 'unknown'.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export type ListenerOwner =
  | { readonly kind: 'app' }
  | { readonly kind: 'other'; readonly pid?: number; readonly command?: string }
  | { readonly kind: 'none' }
  | { readonly kind: 'unknown' };

const LISTEN = '0A';

function read(path: string): string | undefined {
  try { return readFileSync(path, 'utf8'); } catch { return undefined; }
}

/** Inodes of the sockets listening on `port` in the network namespace of `pid` ('self' for ours); undefined without /proc. */
export function listeningInodes(pid: number | 'self', port: number): Set<string> | undefined {
  const tables = ['tcp', 'tcp6'].map((t) => read(`/proc/${pid}/net/${t}`));
  if (tables.every((t) => t === undefined)) return undefined;
  const inodes = new Set<string>();
  for (const table of tables) {
    for (const line of (table ?? '').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      if (local === undefined || f[3] !== LISTEN) continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port && f[9] !== undefined) inodes.add(f[9]);
    }
  }
  return inodes;
}

function pids(): number[] {
  try { return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number); } catch { return []; }
}

/** `pid` and all its descendants. */
export function processTree(root: number): Set<number> {
  const children = new Map<number, number[]>();
  for (const pid of pids()) {
    const stat = read(`/proc/${pid}/stat`);
    if (stat === undefined) continue;
    // pid (comm) state ppid …; comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const tree = new Set<number>([root]);
  const queue = [root];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const child of children.get(next) ?? []) if (!tree.has(child)) { tree.add(child); queue.push(child); }
  }
  return tree;
}

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try { fds = readdirSync(`/proc/${pid}/fd`); } catch { return inodes; }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1] !== undefined) inodes.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  return inodes;
}

function commandOf(pid: number): string | undefined {
  return read(`/proc/${pid}/comm`)?.trim();
}

/** The process holding one of `inodes`, among every process this user can see. */
export function holderPid(inodes: ReadonlySet<string>): number | undefined {
  return holderOf(inodes, pids());
}

/** The process holding one of `inodes`, searched among `candidates`. */
function holderOf(inodes: ReadonlySet<string>, candidates: Iterable<number>): number | undefined {
  for (const pid of candidates) for (const inode of socketInodes(pid)) if (inodes.has(inode)) return pid;
  return undefined;
}

/** Who listens on `port` in the app's network namespace: the app (or a process it started), someone else, or nobody. */
export function listenerOwner(appPid: number, port: number): ListenerOwner {
  const inodes = listeningInodes(appPid, port);
  if (inodes === undefined) return { kind: 'unknown' };
  if (inodes.size === 0) return { kind: 'none' };
  if (holderOf(inodes, processTree(appPid)) !== undefined) return { kind: 'app' };
  return otherHolder(inodes);
}

function otherHolder(inodes: ReadonlySet<string>): ListenerOwner {
  const pid = holderPid(inodes);
  const command = pid === undefined ? undefined : commandOf(pid);
  return { kind: 'other', ...(pid === undefined ? {} : { pid }), ...(command === undefined ? {} : { command }) };
}

/** "pid 4242 (hello)" or "a process this user cannot see". */
export function describeHolder(owner: ListenerOwner & { kind: 'other' }): string {
  if (owner.pid === undefined) return 'a process this user cannot see';
  return `pid ${owner.pid}${owner.command === undefined ? '' : ` (${owner.command})`}`;
}

/** Who holds `port` in this process's own network namespace, after an app exited before it was ready. */
export function hostPortHolder(port: number): ListenerOwner {
  const inodes = listeningInodes('self', port);
  if (inodes === undefined) return { kind: 'unknown' };
  if (inodes.size === 0) return { kind: 'none' };
  return otherHolder(inodes);
}
