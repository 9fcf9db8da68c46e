/**
 * Paged lists: `?limit=N` (1–1,000) and `?cursor=` (from the previous page's answer). A cursor
 * carries the last key returned and the revision of the list's first page; every page answers
 * with that first revision, so a client that pages through a list and then watches from its
 * `revision` sees every change made while it was paging (as after a Consul or etcd list).
 */
import { ErrorCodes, TrellisError } from '../../errors.js';
import { MAX_PAGE_LIMIT } from '../../registry/registry.js';

export interface PageQuery { limit?: string; cursor?: string }

export interface PageRequest {
  limit: number;
  after: string | undefined;
  /** Revision of the first page (undefined on the first page). */
  revision: number | undefined;
}

interface Cursor { a: string; r: number }

/** undefined when the request asks for no page (the whole list). */
export function parsePage(query: PageQuery): PageRequest | undefined {
  if (query.limit === undefined && query.cursor === undefined) return undefined;
  const limit = query.limit === undefined ? MAX_PAGE_LIMIT : Number(query.limit);
  if (!/^\d{1,5}$/.test(query.limit ?? '1') || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new TrellisError(ErrorCodes.VALIDATION, `limit must be a whole number from 1 to ${MAX_PAGE_LIMIT} (got ${JSON.stringify(query.limit)})`, { field: 'limit' });
  }
  if (query.cursor === undefined || query.cursor === '') return { limit, after: undefined, revision: undefined };
  const cursor = decodeCursor(query.cursor);
  return { limit, after: cursor.a, revision: cursor.r };
}

export function encodeCursor(after: string, revision: number): string {
  return Buffer.from(JSON.stringify({ a: after, r: revision } satisfies Cursor)).toString('base64url');
}

function decodeCursor(raw: string): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const c = parsed as Partial<Cursor> | undefined;
  if (typeof c !== 'object' || c === null || typeof c.a !== 'string' || !Number.isSafeInteger(c.r) || (c.r ?? -1) < 0) {
    throw new TrellisError(ErrorCodes.VALIDATION, 'cursor is not one this API gave out: pass the "cursor" of the previous page unchanged, or leave it out for the first page', { field: 'cursor' });
  }
  return { a: c.a, r: c.r as number };
}
