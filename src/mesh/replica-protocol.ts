/**
 * Messages between `trellis up` and a replica process (src/mesh/replica-main.ts) over the
 * Node IPC channel. The parent sends the spec; the child answers ready or failed.
 * A replica whose parent disappears (IPC disconnect) stops itself, so no replica outlives `up`.
 */
import type { InstanceInfo, RunSpec } from '../run/types.js';

export type ToReplica = { readonly type: 'run'; readonly spec: RunSpec; readonly logLevel: string };

export type FromReplica =
  | { readonly type: 'ready'; readonly info: InstanceInfo }
  | { readonly type: 'failed'; readonly message: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function isToReplica(value: unknown): value is ToReplica {
  return isObject(value) && value['type'] === 'run' && isObject(value['spec']) && typeof value['logLevel'] === 'string';
}

export function isFromReplica(value: unknown): value is FromReplica {
  return isObject(value) && ((value['type'] === 'ready' && isObject(value['info'])) || (value['type'] === 'failed' && typeof value['message'] === 'string'));
}
