/**
 * Every SQL statement the store runs, prepared once when the store opens, with the row types
 * they return and the conversions from rows to the public KvStore shapes.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { KeyValue, WatchEvent, WatchEventType } from '../types.js';
import { prefixEnd } from './key-range.js';

export interface KvRow {
  key: string;
  value: string;
  create_revision: number;
  mod_revision: number;
  version: number;
  lease: string | null;
}

export interface EventRow {
  revision: number;
  key: string;
  type: WatchEventType;
  value: string | null;
  prev_value: string | null;
  lease: string | null;
}

export interface LeaseRow {
  id: string;
  ttl_ms: number;
}

/** Named parameters of a query over a key prefix (see PrefixQuery). */
interface PrefixParams {
  start: string;
  end: string | undefined;
}

/**
 * A query over every key with a prefix. SQLite only uses the index for both ends of a range
 * written literally in the SQL, so the unbounded case (empty prefix) has its own statement.
 */
export class PrefixQuery<Params extends object, Row> {
  readonly #bounded: Statement<[Params & PrefixParams], Row>;
  readonly #unbounded: Statement<[Params & PrefixParams], Row>;

  /** `sql` gets the key condition to embed, in terms of the `@start` and `@end` parameters. */
  constructor(db: Database, sql: (keyCondition: string) => string) {
    this.#bounded = db.prepare<Params & PrefixParams, Row>(sql('key >= @start AND key < @end'));
    this.#unbounded = db.prepare<Params & PrefixParams, Row>(sql('key >= @start'));
  }

  all(prefix: string, params: Params): Row[] {
    const end = prefixEnd(prefix);
    const statement = end === undefined ? this.#unbounded : this.#bounded;
    return statement.all({ ...params, start: prefix, end });
  }
}

const KV_COLUMNS = 'key, value, create_revision, mod_revision, version, lease';
const EVENT_COLUMNS = 'revision, key, type, value, prev_value, lease';

/** Prepare every statement; call once per connection. */
export function prepareStatements(db: Database) {
  return {
    getMeta: db.prepare<[string], number>('SELECT value FROM meta WHERE name = ?').pluck(),
    setMeta: db.prepare<[number, string], void>('UPDATE meta SET value = ? WHERE name = ?'),

    getKv: db.prepare<[string], KvRow>(`SELECT ${KV_COLUMNS} FROM kv WHERE key = ?`),
    rangeKv: new PrefixQuery<Record<never, never>, KvRow>(db, (keys) => `SELECT ${KV_COLUMNS} FROM kv WHERE ${keys} ORDER BY key`),
    /** One page: keys after @after (the previous page's last key, '' for the first), at most @limit. */
    rangeKvPage: new PrefixQuery<{ after: string; limit: number }, KvRow>(
      db,
      (keys) => `SELECT ${KV_COLUMNS} FROM kv WHERE ${keys} AND key > @after ORDER BY key LIMIT @limit`,
    ),
    kvByLease: db.prepare<[string], KvRow>(`SELECT ${KV_COLUMNS} FROM kv WHERE lease = ? ORDER BY key`),
    countKv: db.prepare<[], number>('SELECT count(*) FROM kv').pluck(),
    upsertKv: db.prepare<[KvRow], void>(
      `INSERT INTO kv (${KV_COLUMNS}) VALUES (@key, @value, @create_revision, @mod_revision, @version, @lease)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, create_revision = excluded.create_revision,
         mod_revision = excluded.mod_revision, version = excluded.version, lease = excluded.lease`,
    ),
    deleteKv: db.prepare<[string], void>('DELETE FROM kv WHERE key = ?'),

    insertEvent: db.prepare<[EventRow], void>(
      `INSERT INTO events (${EVENT_COLUMNS}) VALUES (@revision, @key, @type, @value, @prev_value, @lease)`,
    ),
    /** One page of a replay: events after (@revision, @key) up to revision @through, at most @limit. */
    eventsPage: new PrefixQuery<{ revision: number; key: string; through: number; limit: number }, EventRow>(
      db,
      (keys) => `SELECT ${EVENT_COLUMNS} FROM events
        WHERE (revision > @revision OR (revision = @revision AND key > @key)) AND revision <= @through AND ${keys}
        ORDER BY revision, key LIMIT @limit`,
    ),

    allLeases: db.prepare<[], LeaseRow>('SELECT id, ttl_ms FROM leases'),
    insertLease: db.prepare<[string, number], void>('INSERT INTO leases (id, ttl_ms) VALUES (?, ?)'),
    deleteLease: db.prepare<[string], void>('DELETE FROM leases WHERE id = ?'),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

export function toKeyValue(row: KvRow): KeyValue {
  return {
    key: row.key,
    value: row.value,
    createRevision: row.create_revision,
    modRevision: row.mod_revision,
    version: row.version,
    lease: row.lease ?? undefined,
  };
}

export function toKvRow(kv: KeyValue): KvRow {
  return {
    key: kv.key,
    value: kv.value,
    create_revision: kv.createRevision,
    mod_revision: kv.modRevision,
    version: kv.version,
    lease: kv.lease ?? null,
  };
}

/** Events are shared by every watcher that receives them, so they are frozen. */
export function toWatchEvent(row: EventRow): WatchEvent {
  return Object.freeze({
    type: row.type,
    key: row.key,
    revision: row.revision,
    value: row.value ?? undefined,
    lease: row.lease ?? undefined,
    prevValue: row.prev_value ?? undefined,
  });
}

export function toEventRow(event: WatchEvent): EventRow {
  return {
    revision: event.revision,
    key: event.key,
    type: event.type,
    value: event.value ?? null,
    prev_value: event.prevValue ?? null,
    lease: event.lease ?? null,
  };
}
