/** Store events as registry events: translated once per store event, whoever asks. */
import type { WatchEvent } from '../store/types.js';
import { parseInstanceKey } from './keys.js';
import type { InstanceRecord, RegistryEvent } from './types.js';

/**
 * Store events are shared by every watcher of a prefix: translate each once, however many
 * watchers there are (1,000 watchers must not parse the same JSON 1,000 times).
 */
const translated = new WeakMap<WatchEvent, RegistryEvent | null>();

export function toRegistryEvent(e: WatchEvent): RegistryEvent | undefined {
  const cached = translated.get(e);
  if (cached !== undefined) return cached ?? undefined;
  const ref = parseInstanceKey(e.key);
  const previous = e.prevValue === undefined ? undefined : (JSON.parse(e.prevValue) as InstanceRecord);
  const current = e.value === undefined ? undefined : (JSON.parse(e.value) as InstanceRecord);
  const instance = current ?? previous;
  const event: RegistryEvent | null = ref === undefined || instance === undefined ? null : Object.freeze({
    revision: e.revision,
    type: e.type === 'delete' ? 'deregistered' : previous === undefined ? 'registered' : 'updated',
    service: ref.service,
    id: ref.id,
    instance,
    previousStatus: previous?.status ?? null,
    statusChanged: previous !== undefined && current !== undefined && previous.status !== current.status,
  });
  translated.set(e, event);
  return event ?? undefined;
}

