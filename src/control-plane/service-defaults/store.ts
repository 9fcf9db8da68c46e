/**
 * Service defaults in the store, one key each: `/config/service-defaults/<service>` → the
 * validated policy fields as written (JSON). Every write is validated whole first (an
 * apply of several validates all of them before writing any), so bad input stores
 * nothing. Watches carry only the services a sidecar calls.
 */
import { ErrorCodes, TrellisError } from '../../errors.js';
import { serviceNameSchema } from '../../registry/schema.js';
import type { KeyValue, KvStore, Watcher, WatchEvent } from '../../store/types.js';
import { parseOrThrow } from '../../util/validation.js';
import { parseServiceDefaults } from './schema.js';
import type { ServiceDefaults, ServiceDefaultsEvent } from '../../core/service-defaults.js';

export const SERVICE_DEFAULTS_PREFIX = '/config/service-defaults/';

/** At most this many entries in one apply. */
const MAX_APPLY = 256;

export function serviceDefaultsKey(service: string): string {
  return `${SERVICE_DEFAULTS_PREFIX}${service}`;
}

export interface ServiceDefaultsWatchListener {
  onEvent(event: ServiceDefaultsEvent): void;
  onError(error: Error): void;
}

function decode(service: string, value: string, revision: number): ServiceDefaults {
  return Object.freeze({ service, policy: Object.freeze(JSON.parse(value) as Record<string, unknown>), revision });
}

function decodeKv(kv: KeyValue): ServiceDefaults {
  return decode(kv.key.slice(SERVICE_DEFAULTS_PREFIX.length), kv.value, kv.modRevision);
}

function notFound(service: string): TrellisError {
  return new TrellisError(ErrorCodes.SERVICE_DEFAULTS_NOT_FOUND,
    `service ${JSON.stringify(service)} has no service defaults (its callers use their own settings and the built-in defaults): see \`trellis service-defaults list\``, { field: 'service' });
}

/** `a,b,c` → the names, each checked; undefined = every service. */
export function parseServiceList(raw: string | undefined, field = 'service'): ReadonlySet<string> | undefined {
  if (raw === undefined || raw === '') return undefined;
  return new Set(raw.split(',').map((name, index) => parseOrThrow(serviceNameSchema, name.trim(), raw.includes(',') ? `${field}.${index}` : field)));
}

export class ServiceDefaultsStore {
  readonly #store: KvStore;

  constructor(store: KvStore) {
    this.#store = store;
  }

  /** Create or replace one service's defaults. */
  async put(service: string, body: unknown): Promise<{ serviceDefaults: ServiceDefaults; created: boolean }> {
    parseOrThrow(serviceNameSchema, service, 'service');
    const { policy } = parseServiceDefaults(body, service);
    const written = await this.#store.put(serviceDefaultsKey(service), JSON.stringify(policy));
    return { serviceDefaults: Object.freeze({ service, policy, revision: written.revision }), created: written.prevKv === undefined };
  }

  /** Validate every entry (`{ service, ...policy }`), then write them all: bad input writes nothing. */
  async apply(body: unknown): Promise<{ serviceDefaults: Array<{ serviceDefaults: ServiceDefaults; created: boolean }>; revision: number }> {
    const raw = typeof body === 'object' && body !== null && 'serviceDefaults' in body ? (body).serviceDefaults : undefined;
    if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_APPLY) {
      throw new TrellisError(ErrorCodes.VALIDATION, `serviceDefaults must be a list of 1 to ${MAX_APPLY} entries, such as {"serviceDefaults":[{"service":"orders","timeout":"2s"}]}`, { field: 'serviceDefaults' });
    }
    const entries = raw.map((item, index) => parseServiceDefaults(item, undefined, `serviceDefaults.${index}`));
    const seen = new Map<string, number>();
    for (const [index, entry] of entries.entries()) {
      const other = seen.get(entry.service);
      if (other !== undefined) {
        throw new TrellisError(ErrorCodes.VALIDATION, `service ${JSON.stringify(entry.service)} appears twice (also serviceDefaults.${other}): merge the two entries`, { field: `serviceDefaults.${index}.service` });
      }
      seen.set(entry.service, index);
    }
    const results = [];
    let revision = 0;
    for (const { service, policy } of entries) {
      const written = await this.#store.put(serviceDefaultsKey(service), JSON.stringify(policy));
      revision = written.revision;
      results.push({ serviceDefaults: Object.freeze({ service, policy, revision: written.revision }), created: written.prevKv === undefined });
    }
    return { serviceDefaults: results, revision };
  }

  async get(service: string): Promise<ServiceDefaults> {
    parseOrThrow(serviceNameSchema, service, 'service');
    const { kv } = await this.#store.get(serviceDefaultsKey(service));
    if (kv === undefined) throw notFound(service);
    return decodeKv(kv);
  }

  /** Every service's defaults, or those of `services`, by service. */
  async list(services?: ReadonlySet<string>): Promise<{ serviceDefaults: ServiceDefaults[]; revision: number }> {
    const { kvs, revision } = await this.#store.range(SERVICE_DEFAULTS_PREFIX);
    const all = kvs.map(decodeKv);
    return { serviceDefaults: services === undefined ? all : all.filter((d) => services.has(d.service)), revision };
  }

  async delete(service: string): Promise<{ revision: number }> {
    parseOrThrow(serviceNameSchema, service, 'service');
    const { deleted, revision } = await this.#store.delete(serviceDefaultsKey(service));
    if (deleted === 0) throw notFound(service);
    return { revision };
  }

  /** Changes after `afterRevision` to the defaults of `services` (every service when undefined). */
  watch(options: { afterRevision: number; services?: ReadonlySet<string> }, listener: ServiceDefaultsWatchListener): Promise<Watcher> {
    const { services } = options;
    return this.#store.watch(SERVICE_DEFAULTS_PREFIX, { afterRevision: options.afterRevision }, {
      onEvent: (e: WatchEvent) => {
        const service = e.key.slice(SERVICE_DEFAULTS_PREFIX.length);
        if (services !== undefined && !services.has(service)) return;
        listener.onEvent(e.value === undefined
          ? Object.freeze({ revision: e.revision, type: 'delete', service })
          : Object.freeze({ revision: e.revision, type: 'put', service, serviceDefaults: decode(service, e.value, e.revision) }));
      },
      onError: (err) => listener.onError(err),
    });
  }
}
