/**
 * A config kind: one family of resources the control plane stores one key each under a
 * prefix (`/config/routes/<name>`), validates with one schema, lists, and streams to the
 * sidecars that follow it — traffic routes, service defaults, authorization policies,
 * gateways. What differs between kinds is data: the prefix, the schema, and the two field
 * names their stored form and their watch events use (`name` + `route`, `service` +
 * `serviceDefaults`). The stores (src/store/config-kind.ts) and the agent's
 * copies (src/agent/config-copy.ts) are written once against this shape.
 */

/** The field names of a kind's watch events: the item's name, and the item itself in a put. */
export interface ConfigFields<N extends string, I extends string> {
  readonly nameField: N;
  readonly itemField: I;
}

/** An item as stored: its name under `N`, what was written under `V`, and the revision of its last write. */
export type StoredConfig<N extends string, V extends string, T> =
  { readonly [K in N]: string } & { readonly [K in V]: T } & { readonly revision: number };

/** A change to the items of one kind a watcher follows. */
export type ConfigEvent<N extends string, I extends string, S> =
  | ({ readonly revision: number; readonly type: 'put' } & { readonly [K in N]: string } & { readonly [K in I]: S })
  | ({ readonly revision: number; readonly type: 'delete' } & { readonly [K in N]: string });

/** The name an event is about. */
export function eventName<N extends string, I extends string, S>(fields: ConfigFields<N, I>, event: ConfigEvent<N, I, S>): string {
  return (event as Readonly<Record<N, string>>)[fields.nameField];
}

/** The item a put carries; undefined for a delete. */
export function eventItem<N extends string, I extends string, S>(fields: ConfigFields<N, I>, event: ConfigEvent<N, I, S>): S | undefined {
  return event.type === 'put' ? (event as unknown as Readonly<Record<I, S>>)[fields.itemField] : undefined;
}

/** Build an event of a kind. */
export function configEvent<N extends string, I extends string, S>(fields: ConfigFields<N, I>, revision: number, name: string, item: S | undefined): ConfigEvent<N, I, S> {
  const event = item === undefined
    ? { revision, type: 'delete', [fields.nameField]: name }
    : { revision, type: 'put', [fields.nameField]: name, [fields.itemField]: item };
  return Object.freeze(event) as unknown as ConfigEvent<N, I, S>;
}
