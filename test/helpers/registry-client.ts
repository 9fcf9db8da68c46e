/** Test-side helpers over the shipped API client. */
import { adminClient } from './tokens.js';
import type { RegistryEvent } from '../../src/registry/types.js';

export interface EventLog {
  events: RegistryEvent[];
  /** Resolves when the stream ends (server gone or stopped). */
  done: Promise<unknown>;
  stop(): void;
}

/** Open a watch stream and collect its events. */
export function collectEvents(url: string, options: { service?: string; after?: number } = {}): EventLog {
  const controller = new AbortController();
  const events: RegistryEvent[] = [];
  const done = adminClient(url)
    .watch({ ...options, signal: controller.signal }, (e) => events.push(e))
    .catch((err: unknown) => err);
  return { events, done, stop: () => controller.abort() };
}
