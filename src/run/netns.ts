/**
 * A network namespace per replica, as a pod has: its own loopback and one veth pair to the
 * host, so several copies of an app hard-coded to :8080 run side by side. Each namespace gets
 * a /30 of 10.211.0.0/16 (a private range used only on these veth pairs): the host side is
 * .1 (where the replica's sidecar listens for the app's outbound calls), the app's side .2
 * (where the sidecar reaches the app). Names are `trellis-<owner pid>-<slot>`, so a later
 * `trellis up` removes what a killed one left behind. Needs root (iproute2's `ip`).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';

const run = promisify(execFile);

/** What a replica's app runs in. Plain data: it crosses to the replica process over IPC. */
export interface NamespaceNetwork {
  readonly namespace: string;
  /** The host's end of the veth pair (the sidecar's outbound side listens here). */
  readonly hostAddress: string;
  /** The app's end, inside the namespace (the sidecar reaches the app here). */
  readonly appAddress: string;
}

const PREFIX = 'trellis-';
const SLOTS = 16_384; // /30s in 10.211.0.0/16

function addressOf(slot: number, host: 1 | 2): string {
  const base = slot * 4 + host;
  return `10.211.${base >> 8}.${base & 255}`;
}

async function ip(args: readonly string[]): Promise<string> {
  try {
    return (await run('ip', [...args], { timeout: 10_000 })).stdout;
  } catch (err) {
    const stderr = typeof err === 'object' && err !== null && 'stderr' in err ? String(err.stderr).trim() : '';
    throw new TrellisError(ErrorCodes.INTERNAL, `ip ${args.join(' ')} failed: ${stderr || messageOf(err)}`, { cause: err });
  }
}

/** Why namespaces cannot be used here, or undefined when they can. */
export function namespaceUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'creating a network namespace needs root';
  return undefined;
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Remove the namespaces (and so their veth pairs) of `trellis up` processes that are gone. */
export async function removeOrphanNamespaces(): Promise<number> {
  const names = (await ip(['netns', 'list'])).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(PREFIX));
  let removed = 0;
  for (const name of names) {
    const owner = Number(name.slice(PREFIX.length).split('-')[0]);
    if (!Number.isInteger(owner) || owner <= 0 || owner === process.pid || alive(owner)) continue;
    await deleteNamespace(name);
    removed += 1;
  }
  return removed;
}

async function vethExists(name: string): Promise<boolean> {
  try { await run('ip', ['link', 'show', name]); return true; } catch { return false; }
}

/** A new namespace with lo up and a veth pair to the host, both ends addressed. */
export async function createNamespace(): Promise<NamespaceNetwork> {
  const why = namespaceUnavailable();
  if (why !== undefined) throw new TrellisError(ErrorCodes.PERMISSION_DENIED, why);
  const start = Math.floor(Math.random() * SLOTS);
  for (let i = 0; i < SLOTS; i += 1) {
    const slot = (start + i) % SLOTS;
    const hostLink = `trv${slot}h`;
    const appLink = `trv${slot}n`;
    if (await vethExists(hostLink)) continue;
    const namespace = `${PREFIX}${process.pid}-${slot}`;
    try {
      await ip(['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', appLink]);
    } catch {
      continue; // taken meanwhile by another trellis up
    }
    const network = { namespace, hostAddress: addressOf(slot, 1), appAddress: addressOf(slot, 2) };
    try {
      await ip(['netns', 'add', namespace]);
      await ip(['link', 'set', appLink, 'netns', namespace]);
      await ip(['addr', 'add', `${network.hostAddress}/30`, 'dev', hostLink]);
      await ip(['link', 'set', hostLink, 'up']);
      await ip(['-n', namespace, 'addr', 'add', `${network.appAddress}/30`, 'dev', appLink]);
      await ip(['-n', namespace, 'link', 'set', appLink, 'up']);
      await ip(['-n', namespace, 'link', 'set', 'lo', 'up']);
      return network;
    } catch (err) {
      await run('ip', ['link', 'del', hostLink]).catch(() => undefined);
      await deleteNamespace(namespace);
      throw err;
    }
  }
  throw new TrellisError(ErrorCodes.INTERNAL, 'no free address block left in 10.211.0.0/16 for a network namespace');
}

/** Delete a namespace; its veth pair goes with it. Never throws. */
export async function deleteNamespace(namespace: string): Promise<void> {
  await run('ip', ['netns', 'delete', namespace]).catch(() => undefined);
}

/** The command that runs `command` inside the namespace (`ip netns exec` execs it: the pid stays the app's). */
export function inNamespace(network: NamespaceNetwork | undefined, command: readonly string[]): readonly string[] {
  return network === undefined ? command : ['ip', 'netns', 'exec', network.namespace, ...command];
}
