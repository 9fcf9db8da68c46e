/**
 * Gateway resources in the store (src/core/gateway.ts), one key each under
 * `/config/gateways/<name>`: the generic config kind with the gateway's schema — validated
 * whole before anything is written, listed, read, deleted, watched.
 */
import { z } from 'zod';
import { GATEWAY_FIELDS, type GatewayEvent, type GatewaySpec, type StoredGateway } from '../../core/gateway.js';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { serviceNameSchema } from '../../registry/schema.js';
import type { KvStore, Watcher } from '../../store/types.js';
import { integerField, parseOrThrow } from '../../util/validation.js';
import { ConfigKindStore, type ConfigKind, type ConfigWatchListener } from '../../store/config-kind.js';

export const GATEWAYS_PREFIX = '/config/gateways/';

const HOSTNAME = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

const gatewaySchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.literal('Gateway', { errorMap: () => ({ message: 'kind must be Gateway (or left out)' }) }).optional(),
  name: serviceNameSchema,
  listeners: z.array(z.object({
    name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a listener name is a DNS label such as websecure'),
    protocol: z.enum(['HTTP', 'HTTPS'], { errorMap: () => ({ message: 'protocol must be HTTP or HTTPS' }) }),
    port: integerField('port', 1, 65_535),
    hostname: z.string().regex(HOSTNAME, 'a hostname is a DNS name such as api.example.com, or *.example.com').optional(),
  }).strict(), { required_error: 'listeners is required: at least one { name, protocol, port }' }).min(1, 'listeners needs at least one listener').max(64),
}, { invalid_type_error: 'a gateway is a map { name, listeners }' }).strict();

export function parseGateway(raw: unknown, field = ''): GatewaySpec {
  const parsed = parseOrThrow(gatewaySchema, raw, field);
  const names = new Set<string>();
  parsed.listeners.forEach((l, i) => {
    if (names.has(l.name)) throw new TrellisError(ErrorCodes.VALIDATION, `listener ${l.name} appears twice: give each its own name`, { field: `${field === '' ? '' : `${field}.`}listeners.${i}.name` });
    names.add(l.name);
  });
  return Object.freeze({ name: parsed.name, listeners: Object.freeze(parsed.listeners.map((l) => Object.freeze({ ...l }))) });
}

export const GATEWAY_KIND: ConfigKind<GatewaySpec, StoredGateway, 'name', 'gateway'> = Object.freeze({
  noun: 'gateway',
  prefix: GATEWAYS_PREFIX,
  fields: GATEWAY_FIELDS,
  listField: 'gateways',
  example: '{"name":"edge","listeners":[{"name":"websecure","protocol":"HTTPS","port":8443,"hostname":"api.example.com"}]}',
  maxApply: 64,
  transaction: true,
  parse: (raw: unknown, field: string) => parseGateway(raw, field),
  nameOf: (spec: GatewaySpec) => spec.name,
  checkName: (name: string) => { parseOrThrow(serviceNameSchema, name, 'name'); },
  notFound: (name: string) => new TrellisError(ErrorCodes.GATEWAY_NOT_FOUND, `there is no gateway ${JSON.stringify(name)}: see \`GET /v1/gateways\``, { field: 'name' }),
  encode: (spec: GatewaySpec) => JSON.stringify(spec),
  decode: (name: string, value: string, revision: number): StoredGateway => Object.freeze({ name, spec: Object.freeze(JSON.parse(value) as GatewaySpec), revision }),
});

export class GatewayStore {
  readonly #items: ConfigKindStore<GatewaySpec, StoredGateway, 'name', 'gateway'>;

  constructor(store: KvStore) {
    this.#items = new ConfigKindStore(store, GATEWAY_KIND);
  }

  async apply(body: unknown): Promise<{ gateways: Array<{ gateway: StoredGateway; created: boolean }>; revision: number }> {
    const { written, revision } = await this.#items.applyAll(body);
    return { gateways: written.map((w) => ({ gateway: w.stored, created: w.created })), revision };
  }

  get(name: string): Promise<StoredGateway> {
    return this.#items.get(name);
  }

  async list(): Promise<{ gateways: StoredGateway[]; revision: number }> {
    const { items, revision } = await this.#items.list();
    return { gateways: items, revision };
  }

  delete(name: string): Promise<{ revision: number }> {
    return this.#items.delete(name);
  }

  watch(afterRevision: number, listener: ConfigWatchListener<GatewayEvent>): Promise<Watcher> {
    return this.#items.watch(afterRevision, {}, listener);
  }
}
