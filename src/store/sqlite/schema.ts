/**
 * The on-disk schema of the embedded store and its migrations.
 *
 * Tables:
 * - `meta`: named integers — the current revision, the compact revision and the schema version.
 * - `kv`: the current value of every key (etcd's "key index" at the latest revision).
 * - `events`: the change log that watches replay from; one row per key changed by a revision.
 * - `leases`: granted leases and their TTL. Deadlines are not stored: they live in memory and
 *   every lease gets a fresh TTL when the store opens (see LeaseClock).
 */
import type { Database } from 'better-sqlite3';
import { corruptDatabase } from './open-errors.js';

/**
 * `MIGRATIONS[i]` takes the schema from version i to version i + 1 (version 0 is an empty
 * database). Append new entries; never edit one that has shipped.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO meta (name, value) VALUES ('revision', 0), ('compact_revision', 0);

  CREATE TABLE kv (
    key             TEXT PRIMARY KEY,
    value           TEXT NOT NULL,
    create_revision INTEGER NOT NULL,
    mod_revision    INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    lease           TEXT
  ) WITHOUT ROWID;
  CREATE INDEX kv_by_lease ON kv (lease) WHERE lease IS NOT NULL;

  CREATE TABLE events (
    revision   INTEGER NOT NULL,
    key        TEXT NOT NULL,
    type       TEXT NOT NULL CHECK (type IN ('put', 'delete')),
    value      TEXT,
    prev_value TEXT,
    lease      TEXT,
    PRIMARY KEY (revision, key)
  ) WITHOUT ROWID;

  CREATE TABLE leases (
    id     TEXT PRIMARY KEY,
    ttl_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
];

/** The schema version this build writes and understands. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Names of the integers kept in the `meta` table. */
export const Meta = {
  REVISION: 'revision',
  COMPACT_REVISION: 'compact_revision',
  SCHEMA_VERSION: 'schema_version',
} as const;

/**
 * Bring the database at `file` to SCHEMA_VERSION, creating the schema in an empty database.
 * Runs in one exclusive transaction (the data dir's lock, database.ts, keeps other processes out).
 * Throws DATA_CORRUPT for a database that is not a Trellis store or is from a newer version.
 */
export function migrate(db: Database, file: string): void {
  // A new database gives freed pages back in slices (space.ts); only settable before any table exists.
  if (db.prepare("SELECT count(*) FROM sqlite_schema").pluck().get() === 0) db.pragma('auto_vacuum = INCREMENTAL');
  db.transaction(() => {
    const from = schemaVersion(db, file);
    if (from > SCHEMA_VERSION) {
      throw corruptDatabase(
        file,
        `it has schema version ${from} but this Trellis understands up to ${SCHEMA_VERSION}`,
        'run the newer Trellis that wrote it',
      );
    }
    if (from === SCHEMA_VERSION) return;
    for (const migration of MIGRATIONS.slice(from)) db.exec(migration);
    db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value')
      .run(Meta.SCHEMA_VERSION, SCHEMA_VERSION);
  }).exclusive();
}

/** 0 for an empty database; the recorded version for a Trellis store; DATA_CORRUPT otherwise. */
function schemaVersion(db: Database, file: string): number {
  const tables = db.prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    .pluck().all();
  if (tables.length === 0) return 0;
  if (!tables.includes('meta')) throw corruptDatabase(file, 'it is a SQLite database but not a Trellis store (no meta table)');
  const version = db.prepare<[string], number>('SELECT value FROM meta WHERE name = ?').pluck().get(Meta.SCHEMA_VERSION);
  if (version === undefined || !Number.isSafeInteger(version) || version < 1) {
    throw corruptDatabase(file, 'its meta table has no valid schema version');
  }
  return version;
}
