/**
 * Service defaults in the store, one key each: `/config/service-defaults/<service>` → the
 * validated policy fields as written (JSON). Every write is validated whole first (an
 * apply of several validates all of them before writing any), so bad input stores
 * nothing. Watches carry only the services a sidecar calls.
 */
import { ErrorCodes, TrellisError } from '../../errors.js';
import { serviceNameSchema } from '../../registry/schema.js';
import type { KvStore, Watcher } from '../../store/types.js';
import { parseOrThrow } from '../../util/validation.js';
import { parseServiceDefaults } from './schema.js';
import { SERVICE_DEFAULTS_FIELDS, type ServiceDefaults, type ServiceDefaultsEvent } from '../../core/service-defaults.js';
import { ConfigKindStore, type ConfigKind, type ConfigWatchListener } from '../../store/config-kind.js';

export const SERVICE_DEFAULTS_PREFIX = '/config/service-defaults/';

export function serviceDefaultsKey(service: string): string {
  return `${SERVICE_DEFAULTS_PREFIX}${service}`;
}

export type ServiceDefaultsWatchListener = ConfigWatchListener<ServiceDefaultsEvent>;

type Entry = { service: string; policy: Readonly<Record<string, unknown>> };

/** Service defaults as a config kind. */
export const SERVICE_DEFAULTS_KIND: ConfigKind<Entry, ServiceDefaults, 'service', 'serviceDefaults'> = Object.freeze({
  noun: 'service',
  prefix: SERVICE_DEFAULTS_PREFIX,
  fields: SERVICE_DEFAULTS_FIELDS,
  listField: 'serviceDefaults',
  example: '{"service":"orders","timeout":"2s"}',
  maxApply: 256,
  transaction: false,
  parse: (raw: unknown, field: string) => parseServiceDefaults(raw, undefined, field),
  nameOf: (entry: Entry) => entry.service,
  checkName: (name: string) => { parseOrThrow(serviceNameSchema, name, 'service'); },
  notFound: (service: string) => new TrellisError(ErrorCodes.SERVICE_DEFAULTS_NOT_FOUND,
    `service ${JSON.stringify(service)} has no service defaults (its callers use their own settings and the built-in defaults): see \`trellis service-defaults list\``, { field: 'service' }),
  encode: (entry: Entry) => JSON.stringify(entry.policy),
  decode: (service: string, value: string, revision: number): ServiceDefaults => Object.freeze({ service, policy: Object.freeze(JSON.parse(value) as Record<string, unknown>), revision }),
});

/** `a,b,c` → the names, each checked; undefined = every service. */
export function parseServiceList(raw: string | undefined, field = 'service'): ReadonlySet<string> | undefined {
  if (raw === undefined || raw === '') return undefined;
  return new Set(raw.split(',').map((name, index) => parseOrThrow(serviceNameSchema, name.trim(), raw.includes(',') ? `${field}.${index}` : field)));
}

export class ServiceDefaultsStore {
  readonly #items: ConfigKindStore<Entry, ServiceDefaults, 'service', 'serviceDefaults'>;

  constructor(store: KvStore) {
    this.#items = new ConfigKindStore(store, SERVICE_DEFAULTS_KIND);
  }

  /** Create or replace one service's defaults. */
  async put(service: string, body: unknown): Promise<{ serviceDefaults: ServiceDefaults; created: boolean }> {
    parseOrThrow(serviceNameSchema, service, 'service');
    const { stored, created } = await this.#items.putItem(parseServiceDefaults(body, service), body);
    return { serviceDefaults: stored, created };
  }

  /** Validate every entry (`{ service, ...policy }`), then write them all: bad input writes nothing. */
  async apply(body: unknown): Promise<{ serviceDefaults: Array<{ serviceDefaults: ServiceDefaults; created: boolean }>; revision: number }> {
    const { written, revision } = await this.#items.applyAll(body);
    return { serviceDefaults: written.map((w) => ({ serviceDefaults: w.stored, created: w.created })), revision };
  }

  get(service: string): Promise<ServiceDefaults> {
    return this.#items.get(service);
  }

  /** Every service's defaults, or those of `services`, by service. */
  async list(services?: ReadonlySet<string>): Promise<{ serviceDefaults: ServiceDefaults[]; revision: number }> {
    const { items, revision } = await this.#items.list(services === undefined ? undefined : (d) => services.has(d.service));
    return { serviceDefaults: items, revision };
  }

  delete(service: string): Promise<{ revision: number }> {
    return this.#items.delete(service);
  }

  /** Changes after `afterRevision` to the defaults of `services` (every service when undefined). */
  watch(options: { afterRevision: number; services?: ReadonlySet<string> }, listener: ServiceDefaultsWatchListener): Promise<Watcher> {
    const { services } = options;
    return this.#items.watch(options.afterRevision, services === undefined ? {} : { name: (service) => services.has(service) }, listener);
  }
}
